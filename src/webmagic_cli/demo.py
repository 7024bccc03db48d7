"""``webmagic demo``: load the demo sites shipped with WebMagic."""

from __future__ import annotations

from rich.text import Text

from webmagic_adapters.bootstrap import Outcome, Settings, load_demo_results
from webmagic_cli import output
from webmagic_cli.db import upgrade_schema
from webmagic_cli.options import DatabaseUrl, DataDir, services, settings_from, site_url


def load_demo(settings: Settings) -> None:
    """Migrate the database, load the demo sites that are missing, and print their URLs."""
    with services(settings, require_schema=False) as container:
        upgrade_schema(container.database, container.banner)
        results = load_demo_results(container.sites)
    for result in results:
        line = Text("  ") + Text(site_url(settings, result.slug), style="bold")
        line += Text("  (loaded)" if result.outcome is Outcome.CREATED else "  (already there)", style="dim")
        output.say(line)


def demo(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Load the demo sites (a bakery, a plumber, a dental studio) as previews.

    Applies the database migrations first. Safe to run again: sites already there are
    left as they are.
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    output.say("Demo sites:")
    load_demo(settings)
