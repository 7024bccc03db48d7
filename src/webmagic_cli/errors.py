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
from typer.core import TyperGroup

from webmagic_adapters.bootstrap import BAD_DATABASE_URL, BackupError, SettingsError
from webmagic_cli.output import err_console, fail
from webmagic_core.errors import WebMagicError
from webmagic_core.site_files import FilesRejected

if TYPE_CHECKING:
    # The click that Typer vendors; only the type checker needs the name.
    from typer._click import Command, Context


def _show_flags_as_flags(command: Command) -> None:
    """Typer prints a type after every option, ``--force <bool>`` included, which reads as if
    the flag took a value; an empty metavar leaves flags bare in every help screen."""
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    help_option = command.get_help_option  # made when help is asked for: bare it then

    def bare_help_option(ctx: Context) -> Any:
        option = help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = bare_help_option  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        _show_flags_as_flags(sub)


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
        # One line per problem, each naming its variable.
        fail("\n".join(f"configuration: {line}" for line in str(exc).splitlines()), code=EXIT_USAGE)
    except BAD_DATABASE_URL as exc:
        fail(f"bad database URL (--database-url / WEBMAGIC_DATABASE_URL): {exc}", code=EXIT_USAGE)
    except BackupError as exc:
        fail(str(exc), code=EXIT_REFUSED)
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
    """The root command group: every subcommand runs inside ``user_errors``, and the help of
    every command shows flags as flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _show_flags_as_flags(self)

    def invoke(self, ctx: Context) -> Any:
        with user_errors():
            return super().invoke(ctx)
