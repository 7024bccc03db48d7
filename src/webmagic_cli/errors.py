"""The one place where expected failures become one red line and an exit code.

Exit codes: 1 for a refused operation (bad content, taken slug, unknown site...), 2 for a
usage or configuration problem (unreadable file argument, bad setting or database URL).
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.text import Text
from sqlalchemy import exc as sa_exc
from typer.core import TyperGroup

from webmagic_adapters.settings import SettingsError
from webmagic_adapters.sqlalchemy.database import DatabaseUrlError
from webmagic_cli.output import err_console, fail
from webmagic_core.errors import WebMagicError
from webmagic_core.site_files import FilesRejected

if TYPE_CHECKING:
    # The click that Typer vendors; only the type checker needs the name.
    from typer._click import Context

EXIT_REFUSED = 1
EXIT_USAGE = 2


class UsageProblem(Exception):
    """Bad command-line input that Typer cannot check itself (e.g. an unreadable file)."""


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except UsageProblem as exc:
        fail(str(exc), code=EXIT_USAGE)
    except SettingsError as exc:
        fail(f"configuration: {exc}", code=EXIT_USAGE)
    except DatabaseUrlError as exc:
        fail(f"bad database URL (--database-url / WEBMAGIC_DATABASE_URL): {exc}", code=EXIT_USAGE)
    except sa_exc.ArgumentError as exc:
        # SQLAlchemy's own messages about a URL never repeat the URL (or its password).
        fail(f"bad database URL (--database-url / WEBMAGIC_DATABASE_URL): {exc}", code=EXIT_USAGE)
    except FilesRejected as exc:
        # One line per file, then the verdict: a long list stays readable and greppable.
        for problem in exc.problems[:-1]:
            err_console().print(
                Text("Error: ", style="bold red") + Text(str(problem), style="red"), soft_wrap=True
            )
        fail(str(exc.problems[-1]), code=EXIT_REFUSED)
    except WebMagicError as exc:
        fail(exc.detail, code=EXIT_REFUSED)


class WebMagicGroup(TyperGroup):
    """The root command group: every subcommand runs inside ``user_errors``."""

    def invoke(self, ctx: Context) -> Any:
        with user_errors():
            return super().invoke(ctx)
