"""``webmagic subscriptions ...``: the monthly hosting subscriptions: list them, re-read one."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from webmagic_adapters.bootstrap import Container, format_monthly
from webmagic_cli import output
from webmagic_cli.errors import EXIT_REFUSED
from webmagic_cli.options import (
    SHORT_ID_SEARCH,
    DatabaseUrl,
    DataDir,
    Json,
    looks_like_short_id,
    only,
    resolve_id,
    services,
    settings_from,
)
from webmagic_cli.payments import NONE, Limit, maybe, site_slugs, slug_of
from webmagic_core.errors import NotFound
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.services.subscriptions import SyncItem, SyncResult
from webmagic_core.slugs import is_valid_slug

app = typer.Typer(
    name="subscriptions",
    help="Monthly hosting subscriptions: list them, re-read one from the payment provider.",
    no_args_is_help=True,
)

SUBSCRIPTION_STYLES: dict[SubscriptionState, str] = {
    SubscriptionState.PENDING: "yellow",
    SubscriptionState.EXPIRED: "dim",
    SubscriptionState.ACTIVE: "bold green",
    SubscriptionState.PAST_DUE: "yellow",
    SubscriptionState.PAUSED: "red",
    SubscriptionState.CANCELLED: "red",
    SubscriptionState.UNABLE_TO_START: "dim",
}
SYNC_STYLES: dict[SyncResult, str] = {
    SyncResult.APPLIED: "green",
    SyncResult.EXPIRED: "dim",
    SyncResult.PENDING: "yellow",
    SyncResult.ERROR: "bold red",
}

# Shared with ``webmagic sandbox``.
SubscriptionRef = Annotated[
    str,
    typer.Argument(
        help="The subscription: its id (or its first characters, as `subscriptions list` shows "
        "them), the provider's su_... id, its checkout's ch_... id, or the site's slug.",
        metavar="ID",
        show_default=False,
    ),
]


def subscription_reference(container: Container, reference: str) -> str:
    """What ``SubscriptionService.find`` takes, from any way an operator names a
    subscription: a short id becomes the whole id, a site's slug its latest subscription's."""
    reference = reference.strip()
    try:
        return str(container.subscriptions.find(reference).id)
    except NotFound as not_found:
        unknown = not_found
    if is_valid_slug(reference):
        try:
            return str(container.subscriptions.view(reference).subscription.id)
        except NotFound:
            pass  # no such site (or none subscribed): perhaps the start of an id
    if not looks_like_short_id(reference):
        raise unknown
    return str(
        resolve_id(
            reference,
            "a subscription",
            "subscriptions list",
            lambda: (s.id for s in container.subscriptions.list(limit=SHORT_ID_SEARCH)),
        )
    )


def status_text(status: SubscriptionState) -> Text:
    return Text(status.value, style=SUBSCRIPTION_STYLES[status])


def _iso(value: dt.datetime | None) -> str | None:
    return output.iso(value) if value is not None else None


def _when(value: dt.datetime | None) -> str:
    return output.when(value) if value is not None else NONE


def _short(value: dt.datetime | None) -> str:
    """A time for a table column: UTC, to the minute."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if value is not None else NONE


def subscription_json(sub: Subscription, slugs: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": str(sub.id),
        "site_id": str(sub.site_id),
        "site_slug": slug_of(slugs, sub.site_id),
        "customer_id": str(sub.customer_id),
        "status": sub.status.value,
        "amount_in_cents": sub.amount.amount_in_cents,
        "currency": sub.amount.currency,
        "provider_id": sub.provider_id,
        "checkout_id": sub.checkout_id,
        "current_period_start": _iso(sub.current_period_start),
        "current_period_end": _iso(sub.current_period_end),
        "next_payment_attempt_at": _iso(sub.next_payment_attempt_at),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "paid_through": _iso(sub.paid_through),
        "created_at": output.iso(sub.created_at),
        "started_at": _iso(sub.started_at),
        "cancelled_at": _iso(sub.cancelled_at),
        "ended_at": _iso(sub.ended_at),
        "last_synced_at": _iso(sub.last_synced_at),
    }


@app.command("list")
def list_subscriptions(
    status: Annotated[
        SubscriptionState | None,
        only("subscriptions in this status", SubscriptionState),
    ] = None,
    limit: Limit = 100,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """List subscriptions, newest first.

    A subscription is `pending` while its checkout is open, `expired` if that was never
    paid, and then has the provider's status: `active`, `past_due` (a renewal failed, the
    provider retries; the site is still served), `paused`, `cancelled` (the site is served
    until the end of the paid time) or `unable_to_start`.

    With `--json`, prints an array of objects with `id`, `site_id`, `site_slug`,
    `customer_id`, `status`, `amount_in_cents`, `currency`, `provider_id`, `checkout_id`,
    `current_period_start`, `current_period_end`, `next_payment_attempt_at`,
    `cancel_at_period_end`, `paid_through`, `created_at`, `started_at`, `cancelled_at`,
    `ended_at` and `last_synced_at` (times in ISO 8601; null when not applicable).

    Example: `webmagic subscriptions list --status past_due`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        found = container.subscriptions.list(status=status, limit=limit)
        slugs = site_slugs(container) if found else {}
    if as_json:
        output.print_json([subscription_json(sub, slugs) for sub in found])
        return
    if not found:
        output.say(f"No {status.value} subscriptions." if status else "No subscriptions yet.")
        return
    grid = output.table(
        "ID",
        "Site",
        "Provider ID",
        "Status",
        "Period end",
        "Cancel at end",
        "Next attempt",
        no_wrap=("Period end", "Next attempt"),
    )
    for sub in found:
        grid.add_row(
            output.short_id(sub.id),
            Text(maybe(slug_of(slugs, sub.site_id)), style="bold"),
            Text(maybe(sub.provider_id)),
            status_text(sub.status),
            _short(sub.current_period_end),
            Text("yes", style="yellow") if sub.cancel_at_period_end else Text("no", style="dim"),
            _short(sub.next_payment_attempt_at),
        )
    output.print_table(grid)
    output.say(f"{output.plural(len(found), 'subscription')} (newest first; times in UTC).", style="dim")


def _sync_json(item: SyncItem, sub: Subscription, slugs: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "result": item.result.value,
        "detail": item.detail,
        "subscription": subscription_json(sub, slugs),
    }


@app.command()
def sync(
    reference: SubscriptionRef,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Read one subscription from the payment provider again and apply what it says.

    For a webhook that got lost, or to check a subscription now rather than at the next
    sweep. A pending one is looked up through its checkout: paid, it starts; unpaid past
    its hold, it expires. The site follows (served, suspended or restored) and the mails
    the change calls for go out, once. Safe to repeat.

    Exit code 0 when the provider answered; 1 when it could not be asked or does not know
    the subscription.

    With `--json`, prints `{"result": ..., "detail": ..., "subscription": {...}}`: `result`
    is applied, expired, pending or error, `detail` says why (or null), and `subscription`
    is the subscription afterwards, as `subscriptions list --json` shows it.

    Example: `webmagic subscriptions sync su_abc123`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        item = container.subscriptions.sync(subscription_reference(container, reference))
        sub = container.subscriptions.find(str(item.subscription_id))
        slugs = site_slugs(container)
    if as_json:
        output.print_json(_sync_json(item, sub, slugs))
    else:
        line = Text("Synced ") + Text(str(sub.id), style="bold")
        if sub.provider_id:
            line += Text(f" ({sub.provider_id})")
        line += Text(": ") + Text(item.result.value, style=SYNC_STYLES[item.result])
        if item.detail:
            line += Text(f" ({item.detail})")
        output.say(line + Text("."))
        output.print_table(_facts(sub, slugs))
    if item.result is SyncResult.ERROR:
        raise typer.Exit(EXIT_REFUSED)


def _facts(sub: Subscription, slugs: Mapping[uuid.UUID, str]) -> Table:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Site", Text(slug_of(slugs, sub.site_id) or str(sub.site_id)))
    facts.add_row("Status", status_text(sub.status))
    facts.add_row("Amount", format_monthly(sub.amount))
    facts.add_row("Period end", _when(sub.current_period_end))
    facts.add_row("Next attempt", _when(sub.next_payment_attempt_at))
    facts.add_row("Paid through", _when(sub.paid_through))
    if sub.cancel_at_period_end:
        facts.add_row("Cancelled", Text("at period end: served until the paid time is over", style="yellow"))
    if sub.ended_at:
        facts.add_row("Ended", output.when(sub.ended_at))
    return facts
