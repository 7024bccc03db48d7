"""``webmagic customers``: find an account by email, see what it owns and what happened to
it, deactivate and reactivate it, resend its links."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.text import Text

from webmagic_adapters.bootstrap import format_money, format_monthly
from webmagic_cli import output
from webmagic_cli.options import DatabaseUrl, DataDir, Json, only, services, settings_from
from webmagic_core.accounts.admin import AccountStatus
from webmagic_core.accounts.customers import Customer
from webmagic_core.services.customers import CustomerProfile

app = typer.Typer(
    name="customers",
    help="Customer accounts: find one by email, show it, deactivate or reactivate it, resend its links.",
    no_args_is_help=True,
)

Email = Annotated[str, typer.Argument(help="The account's email address.", metavar="EMAIL")]
Reason = Annotated[
    str | None, typer.Option("--reason", help="Why (kept in the account's history and its sites' timelines).")
]
STATUS_STYLES = {
    AccountStatus.ACTIVE: "green",
    AccountStatus.INACTIVE: "red",
    AccountStatus.UNVERIFIED: "yellow",
}


def _iso(value: dt.datetime | None) -> str | None:
    return output.iso(value) if value is not None else None


def _when(value: dt.datetime | None) -> str:
    return output.when(value) if value is not None else "-"


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": str(customer.id),
        "email": customer.email,
        "full_name": customer.full_name,
        "phone": customer.phone,
        "status": AccountStatus.of(customer).value,
        "email_verified": customer.email_verified,
        "has_password": customer.password_hash is not None,
        "created_at": output.iso(customer.created_at),
        "deactivated_at": _iso(customer.deactivated_at),
        "last_login_at": _iso(customer.last_login_at),
        "failed_logins": customer.failed_logins,
        "last_failed_login_at": _iso(customer.last_failed_login_at),
    }


@app.command("list")
def list_customers(
    search: Annotated[
        str | None, typer.Option("--search", help="Only accounts whose email or name contains this text.")
    ] = None,
    status: Annotated[AccountStatus | None, only("accounts in this status", AccountStatus)] = None,
    page: Annotated[int, typer.Option("--page", min=1, help="Which page, from 1.")] = 1,
    per_page: Annotated[int, typer.Option("--per-page", min=1, max=500, help="Accounts per page.")] = 50,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Customer accounts, newest first, one page at a time.

    Example: `webmagic customers list --search bakery --status inactive`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        result = container.customers.list(search=search, status=status, page=page, per_page=per_page)
    if as_json:
        output.print_json(
            {
                "customers": [customer_json(c) for c in result.customers],
                "page": result.page,
                "per_page": result.per_page,
                "pages": result.pages,
                "total": result.total,
            }
        )
        return
    if not result.customers:
        output.say(
            "No customers match." if result.total or search or status else "No customers yet.", style="dim"
        )
        return
    grid = output.table(
        "Email", "Name", "Status", "Created", "Last login", "Failed sign-ins", no_wrap=("Email",)
    )
    for c in result.customers:
        state = AccountStatus.of(c)
        grid.add_row(
            c.email,
            c.full_name or "-",
            Text(state.value, style=STATUS_STYLES[state]),
            output.when(c.created_at),
            _when(c.last_login_at),
            str(c.failed_logins),
        )
    output.print_table(grid)
    output.say(
        f"Page {result.page} of {result.pages} ({output.plural(result.total, 'customer')}).", style="dim"
    )


def profile_json(profile: CustomerProfile) -> dict[str, Any]:
    return {
        **customer_json(profile.customer),
        "last_login_address": profile.last_login_address,
        "sites": [
            {"slug": s.slug, "business_name": s.business_name, "status": s.status.value}
            for s in profile.sites
        ],
        "subscriptions": [
            {
                "id": str(s.id),
                "provider_id": s.provider_id,
                "status": s.status.value,
                "amount": str(s.amount),
                "paid_through": _iso(s.paid_through),
                "created_at": output.iso(s.created_at),
            }
            for s in profile.subscriptions
        ],
        "purchases": [
            {
                "id": str(p.id),
                "status": p.status.value,
                "amount": str(p.amount),
                "created_at": output.iso(p.created_at),
                "paid_at": _iso(p.paid_at),
            }
            for p in profile.purchases
        ],
        "emails": [
            {
                "id": str(e.id),
                "template": e.template,
                "status": e.status.value,
                "attempts": e.attempts,
                "queued_at": output.iso(e.created_at),
                "sent_at": _iso(e.sent_at),
                "last_error": e.last_error,
            }
            for e in profile.emails
        ],
        "active_logins": [
            {
                "login_id": str(login.login_id),
                "started_at": output.iso(login.started_at),
                "last_refreshed_at": output.iso(login.last_refreshed_at),
                "expires_at": output.iso(login.expires_at),
            }
            for login in profile.logins
        ],
        "history": [
            {"at": output.iso(e.at), "kind": e.kind.value, "actor": e.actor.value, "detail": e.detail}
            for e in profile.history
        ],
    }


@app.command()
def show(
    email: Email, as_json: Json = False, database_url: DatabaseUrl = None, data_dir: DataDir = None
) -> None:
    """One account: profile, status, activity, sites with their status, subscriptions,
    purchases, the emails sent to it and their delivery, its open logins and its history.

    Example: `webmagic customers show owner@example.com`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        profile = container.customers.show(email)
    if as_json:
        output.print_json(profile_json(profile))
        return
    c = profile.customer
    output.say(
        Text(c.email, style="bold")
        + Text("  ")
        + Text(profile.status.value, style=STATUS_STYLES[profile.status])
    )
    facts = [
        ("Name", c.full_name or "-"),
        ("Phone", c.phone or "-"),
        ("Email verified", "yes" if c.email_verified else "no"),
        ("Password set", "yes" if c.password_hash is not None else "no (welcome link not used yet)"),
        ("Created", output.when(c.created_at)),
        ("Deactivated", _when(c.deactivated_at)),
        (
            "Last login",
            _when(c.last_login_at)
            + (f" from {profile.last_login_address}" if profile.last_login_address else ""),
        ),
        ("Failed sign-ins since last login", f"{c.failed_logins} (last {_when(c.last_failed_login_at)})"),
    ]
    for label, value in facts:
        output.say(f"{label}: {value}")
    sections: list[tuple[str, list[str]]] = [
        ("Sites", [f"{s.slug} ({s.business_name}): {s.status.value}" for s in profile.sites]),
        (
            "Subscriptions",
            [
                f"{s.provider_id or output.short_id(s.id)}: {s.status.value}, {format_monthly(s.amount)}"
                for s in profile.subscriptions
            ],
        ),
        (
            "Purchases",
            [
                f"{output.short_id(p.id)}: {p.status.value}, {format_money(p.amount)}, "
                f"{output.when(p.created_at)}"
                for p in profile.purchases
            ],
        ),
        (
            "Emails",
            [
                f"{output.when(e.created_at)} {e.template}: {e.status.value}"
                + (f" ({e.attempts} attempt(s): {e.last_error})" if e.last_error else "")
                for e in profile.emails
            ],
        ),
        (
            "Open logins",
            [
                f"{login.login_id}: since {output.when(login.started_at)}, "
                f"until {output.when(login.expires_at)}"
                for login in profile.logins
            ],
        ),
        (
            "History",
            [f"{output.when(e.at)} {e.kind.value} ({e.actor.value}): {e.detail}" for e in profile.history],
        ),
    ]
    for title, lines in sections:
        output.say(Text(f"\n{title}", style="bold"))
        for line in lines or ["none"]:
            output.say(f"  {line}")


@app.command()
def deactivate(
    email: Email,
    reason: Reason = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Stop an account from signing in and end all its logins at once. Its sites keep their
    status (a deactivated person does not take a paying business offline).

    Example: `webmagic customers deactivate owner@example.com --reason "chargeback" --yes`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        if not yes:
            profile = container.customers.show(email)
            if not typer.confirm(
                f"Deactivate {profile.customer.email}? Every login ends now and sign-in is refused",
                default=False,
            ):
                output.say("Nothing changed.")
                raise typer.Exit(1)
        customer = container.customers.deactivate(email, reason=reason)
    output.say(Text("Deactivated ") + Text(customer.email, style="bold") + Text("; every login ended."))


@app.command()
def reactivate(
    email: Email, reason: Reason = None, database_url: DatabaseUrl = None, data_dir: DataDir = None
) -> None:
    """Let a deactivated account sign in again (with its password).

    Example: `webmagic customers reactivate owner@example.com`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        customer = container.customers.reactivate(email, reason=reason)
    output.say(Text("Reactivated ") + Text(customer.email, style="bold") + Text("; it can sign in again."))


@app.command("resend-link")
def resend_link(email: Email, database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Mail a fresh set-password link (a verification link to an unverified account that
    has a password) through the outbox; earlier links of that kind stop working.

    Example: `webmagic customers resend-link owner@example.com`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        sent = container.customers.resend_link(email)
    kind = "verification" if sent.template == "verify_email" else "set-password"
    output.say(
        Text(f"Queued a fresh {kind} link for ")
        + Text(sent.customer.email, style="bold")
        + Text("; earlier ones no longer work.")
    )
