"""``webmagic sandbox ...``: play the payment provider's part for a sandbox subscription.

Each command changes the subscription in the sandbox the way Recurrente would, then
delivers the signed webhooks Recurrente would send about it: over HTTP to the running app
(``--url``, by default ``WEBMAGIC_PUBLIC_URL``), or with ``--direct`` straight to the
webhook pipeline in this process. Either way they are verified, stored and applied like
real ones, so the whole subscription lifecycle can be tried on a fresh machine.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import attrs
import typer
from rich.text import Text

from webmagic_adapters.bootstrap import (
    DECLINED,
    WEBHOOK_PATH,
    Container,
    Delivery,
    Payments,
    SandboxGateway,
    SandboxWebhook,
    Settings,
    deliver_in_process,
    deliver_over_http,
    webhook_url,
)
from webmagic_cli import output, sandbox_clock
from webmagic_cli.errors import UsageProblem
from webmagic_cli.options import DatabaseUrl, DataDir, services, settings_from
from webmagic_cli.payments import site_slugs, slug_of
from webmagic_cli.subscriptions import status_text
from webmagic_core.errors import Conflict, NotFound, WebMagicError
from webmagic_core.slugs import is_valid_slug

app = typer.Typer(
    name="sandbox",
    help="Sandbox payments only: renew, fail, recover, cancel, pause or unpause a subscription "
    "as the provider would, and deliver its signed webhooks to the app; move the clock forward.",
    no_args_is_help=True,
)

app.add_typer(sandbox_clock.app)

PROVIDER_PREFIX = "su_"
MAX_ANSWER = 300


class DeliveryFailed(WebMagicError):
    """A simulated webhook did not reach the app, or the app refused it."""


class PauseEvent(enum.StrEnum):
    PAUSE = "subscription.pause"
    PAUSED = "subscription.paused"


class UnpauseEvent(enum.StrEnum):
    UNPAUSE = "subscription.unpause"
    REACTIVATE = "subscription.reactivate"


SubscriptionArg = Annotated[
    str,
    typer.Argument(
        help="The sandbox subscription: its su_sandbox_... id, the subscription's id or ch_... "
        "checkout id (as `subscriptions list` shows them), or the site's slug.",
        metavar="SUBSCRIPTION",
        show_default=False,
    ),
]
Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        help=f"The running app to deliver to (its {WEBHOOK_PATH} endpoint is used).",
        show_default="WEBMAGIC_PUBLIC_URL",
    ),
]
Direct = Annotated[
    bool,
    typer.Option(
        "--direct",
        help="Hand the webhooks to the webhook pipeline in this process instead: no server needed.",
    ),
]


def _require_sandbox_payments(settings: Settings) -> None:
    if settings.payments is Payments.RECURRENTE:
        raise UsageProblem(
            "the sandbox commands only work with sandbox payments, and WEBMAGIC_PAYMENTS is "
            f"{settings.payments.value} here: real subscriptions change at the provider"
        )


def _sandbox(container: Container) -> SandboxGateway:
    if container.sandbox is None:
        raise UsageProblem("the sandbox commands only work with sandbox payments (WEBMAGIC_PAYMENTS=sandbox)")
    return container.sandbox


def _provider_id(container: Container, reference: str) -> str:
    """The ``su_...`` id to simulate."""
    reference = reference.strip()
    try:
        local = container.subscriptions.find(reference)
    except NotFound:
        if reference.startswith(PROVIDER_PREFIX):
            return reference  # the sandbox may know it even if the app does not
        if not is_valid_slug(reference):
            raise
        local = container.subscriptions.view(reference).subscription
    if local.provider_id is None:
        raise Conflict(
            f"subscription {local.id} is {local.status.value}: it has no sandbox subscription "
            "until its checkout is paid"
        )
    return local.provider_id


def _target_url(settings: Settings, url: str | None) -> str:
    base = (url or settings.public_url).strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise UsageProblem(f"--url must be an http(s) URL, not {base!r}")
    return base if base.endswith(WEBHOOK_PATH) else webhook_url(base)


def _answer(delivery: Delivery) -> str:
    """The app's answer for people: the JSON status or problem detail, else its text."""
    try:
        body = json.loads(delivery.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("status", "detail", "title"):
            if isinstance(body.get(key), str):
                return str(body[key])
    text = " ".join(delivery.body.split())
    return text if len(text) <= MAX_ANSWER else text[: MAX_ANSWER - 1] + "…"


def _recorded(container: Container, message_id: str) -> Text:
    """What the app made of a delivered webhook, when it shares this database."""
    try:
        event = container.webhooks.get(message_id)
    except NotFound:
        return Text()
    if event.outcome is None:
        return Text()
    note = Text(f"  recorded {event.outcome.value}", style="dim")
    if event.error:
        note += Text(f": {event.error}", style="dim")
    return note


def _now_line(container: Container, provider_id: str) -> Text | None:
    """Where the app's subscription and its site stand after the deliveries (None when the
    app has no subscription for ``provider_id``)."""
    try:
        after = container.subscriptions.find(provider_id)
    except NotFound:
        return None
    line = Text("Now: subscription ") + status_text(after.status)
    slug = slug_of(site_slugs(container), after.site_id)
    if slug is not None:
        site = container.sites.details(slug).site
        line += Text(", site ") + Text(slug, style="bold") + Text(" ") + output.status_text(site.status)
    return line + Text(".")


@attrs.frozen
class _Where:
    """Where the simulation runs and its webhooks go: the options every command shares."""

    url: str | None
    direct: bool
    database_url: str | None
    data_dir: Path | None


def _simulate(
    action: str,
    reference: str,
    simulate: Callable[[SandboxGateway, str], list[SandboxWebhook]],
    where: _Where,
) -> None:
    settings = settings_from(database_url=where.database_url, data_dir=where.data_dir)
    _require_sandbox_payments(settings)
    target = None if where.direct else _target_url(settings, where.url)
    with services(settings) as container:
        sandbox = _sandbox(container)
        provider_id = _provider_id(container, reference)
        webhooks = simulate(sandbox, provider_id)
        info = sandbox.get_subscription(provider_id)
        line = Text(f"Simulated {action} of ") + Text(provider_id, style="bold")
        line += Text(": the sandbox subscription is ") + Text(info.status.value, style="bold")
        if info.current_period_end is not None:
            line += Text(f", its period ends {output.when(info.current_period_end)}")
        output.say(line + Text("."))
        if target is None:
            output.say("Handing its webhooks to the app in this process:")
            deliveries = deliver_in_process(webhooks, container.verifier, container.webhooks)
        else:
            output.say(f"Delivering its webhooks to {target}:")
            deliveries = deliver_over_http(webhooks, target)
        for delivery in deliveries:
            mark = Text("  ✓ ", style="green") if delivery.accepted else Text("  ✗ ", style="red")
            status = "not delivered" if delivery.status is None else str(delivery.status)
            line = mark + Text(delivery.event_type, style="bold")
            line += Text(f"  {delivery.message_id}  → {status} {_answer(delivery)}")
            if delivery.accepted:
                line += _recorded(container, delivery.message_id)
            output.say(line)
        failed = next((d for d in deliveries if not d.accepted), None)
        now = _now_line(container, provider_id) if failed is None else None
        if now is not None:
            output.say(now)
    if failed is not None:
        raise DeliveryFailed(_failure(failed, target, provider_id, len(webhooks) - len(deliveries)))


def _failure(failed: Delivery, target: str | None, provider_id: str, left: int) -> str:
    what = (
        f"could not deliver {failed.event_type} to {target}: {_answer(failed)}"
        if failed.status is None
        else f"the app answered {failed.status} to {failed.event_type}: {_answer(failed)}"
    )
    rest = f" ({output.plural(left, 'more webhook')} not sent)" if left else ""
    hint = "" if target is None else "; or deliver with --direct when the app is not running"
    return (
        f"{what}{rest}. The sandbox subscription has changed all the same: apply it with "
        f"`webmagic subscriptions sync {provider_id}`{hint}"
    )


# --- the commands -------------------------------------------------------------------------------


@app.command()
def renew(
    subscription: SubscriptionArg,
    url: Url = None,
    direct: Direct = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """The period ends and the renewal is paid: a new month (sends `payment_intent.succeeded`).

    Only an active subscription renews. The sandbox cannot wait a month: a renewal before
    the period's end ends that period now, and the next one runs a month from now.

    Example: `webmagic sandbox renew casa-rosa --direct`
    """
    where = _Where(url, direct, database_url, data_dir)
    _simulate("a renewal", subscription, SandboxGateway.renew, where)


@app.command()
def fail(
    subscription: SubscriptionArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the card was declined.")] = DECLINED,
    url: Url = None,
    direct: Direct = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """The renewal charge fails: the subscription is past_due, the site stays online.

    An active subscription opens its next period unpaid and becomes past_due (sends
    `payment_intent.failed` and `subscription.past_due`); for a past_due one, a retry
    fails (sends `payment_intent.failed`).

    Example: `webmagic sandbox fail casa-rosa --direct`
    """
    where = _Where(url, direct, database_url, data_dir)
    _simulate("a failed charge", subscription, lambda sandbox, su: sandbox.fail(su, reason=reason), where)


@app.command()
def recover(
    subscription: SubscriptionArg,
    url: Url = None,
    direct: Direct = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """A retry of a past_due subscription is paid: active again (sends `payment_intent.succeeded`).

    Example: `webmagic sandbox recover casa-rosa --direct`
    """
    where = _Where(url, direct, database_url, data_dir)
    _simulate("a recovered payment", subscription, SandboxGateway.recover, where)


@app.command()
def cancel(
    subscription: SubscriptionArg,
    url: Url = None,
    direct: Direct = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Cancelled at the provider: no more charges (sends `subscription.cancel`).

    The site stays online until its paid time is over; then `webmagic lifecycle sweep`
    suspends it.

    Example: `webmagic sandbox cancel casa-rosa --direct`
    """
    where = _Where(url, direct, database_url, data_dir)
    _simulate("a cancellation", subscription, SandboxGateway.cancel, where)


@app.command()
def pause(
    subscription: SubscriptionArg,
    event: Annotated[
        PauseEvent, typer.Option("--event", help="The event that announces it (Recurrente documents both).")
    ] = PauseEvent.PAUSE,
    url: Url = None,
    direct: Direct = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Paused at the provider: no charges, and the site is suspended while paused.

    Example: `webmagic sandbox pause casa-rosa --direct`
    """
    where = _Where(url, direct, database_url, data_dir)
    _simulate("a pause", subscription, lambda sandbox, su: sandbox.pause(su, event_type=event.value), where)


@app.command()
def unpause(
    subscription: SubscriptionArg,
    event: Annotated[
        UnpauseEvent, typer.Option("--event", help="The event that announces it (Recurrente documents both).")
    ] = UnpauseEvent.UNPAUSE,
    url: Url = None,
    direct: Direct = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Unpaused (or reactivated) at the provider: active again, and the site is back as it was.

    Example: `webmagic sandbox unpause casa-rosa --direct`
    """
    where = _Where(url, direct, database_url, data_dir)
    _simulate(
        "an unpause", subscription, lambda sandbox, su: sandbox.unpause(su, event_type=event.value), where
    )
