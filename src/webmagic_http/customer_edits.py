"""The owner's edits and version restores under ``/api/v1/customer/sites/{slug}``.

- ``POST .../edits`` ``{"instructions"}`` -> 202 the edit (``pending``): owned, active and
  past-due sites only (a suspended one -> 409); over ``WEBMAGIC_EDITS_PER_MONTH`` requests
  this calendar month (UTC) -> 429 with ``Retry-After``;
- ``GET .../edits`` -> 200 newest first; ``GET .../edits/{id}`` -> 200;
- ``POST .../edits/{id}/approve`` -> 200 ``applied`` (only a ``ready`` edit whose draft was
  made from the live version, else 409 and nothing changes);
- ``POST .../edits/{id}/reject`` -> 200 ``rejected`` (from ``pending`` or ``ready``);
- ``POST .../versions/{number}/restore`` -> 201 the new version holding that one's files.

Another customer's site or edit answers 404, exactly like an unknown one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import attrs
from litestar import Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, RawBody

from webmagic_core.services.accounts import AccountService
from webmagic_core.services.edits import EditService, EditView
from webmagic_core.site_diff import FileChange
from webmagic_http.api_bodies import FileDiffBody, VersionSummary
from webmagic_http.auth import AccessTokens, CurrentCustomer, customer_guard
from webmagic_http.boundary import json_body, parse
from webmagic_http.common import BEARER_SECURITY, MAX_BODY_BYTES
from webmagic_http.problems import problem_spec

PREFIX = "/api/v1/customer/sites"
NO_STORE = CacheControlHeader(no_store=True)


@attrs.define
class EditRequestBody:
    instructions: str


@dataclass(frozen=True, slots=True)
class EditBody:
    id: str
    status: str  # pending | ready | applied | rejected | failed
    instructions: str
    summary: str | None  # the draft's one line (ready and later)
    base_version: int | None  # the live version the draft was made from
    version: int | None  # the version it became (applied)
    preview_url: str | None  # the draft on the sites origin, signed for 7 days (ready)
    diff: list[FileDiffBody] | None  # what the draft changes against base_version
    reason: str | None  # why it failed
    created_at: str
    updated_at: str


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def edit_body(view: EditView, diff: tuple[FileChange, ...] | None) -> EditBody:
    edit = view.edit
    return EditBody(
        id=str(edit.id),
        status=edit.status.value,
        instructions=edit.instructions,
        summary=edit.summary,
        base_version=edit.base_version,
        version=edit.version,
        preview_url=view.preview_url,
        diff=[FileDiffBody.of(f) for f in diff] if diff is not None else None,
        reason=edit.reason,
        created_at=_iso(edit.created_at),
        updated_at=_iso(edit.updated_at),
    )


def edit_routes(edits: EditService, accounts: AccountService, tokens: AccessTokens) -> Router:
    unauthenticated = problem_spec("The access token is missing, expired, tampered with or revoked")
    not_found = problem_spec("No site of this customer has this slug, or the site has no such edit")

    def body(view: EditView) -> EditBody:
        return edit_body(view, edits.diff(view.edit))

    @post(
        "/{slug:str}/edits",
        status_code=202,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        operation_class=json_body(EditRequestBody),
        summary="Ask for a change in plain words (drafted later; nothing changes until approval)",
        responses={
            400: problem_spec("The instructions are empty or longer than 4,000 characters"),
            401: unauthenticated,
            404: not_found,
            409: problem_spec("The site is suspended (or not owned, active or past due)"),
            429: problem_spec("This month's edit requests for the site are used up: see Retry-After"),
        },
    )
    def ask(customer: CurrentCustomer, slug: FromPath[str], body: RawBody) -> EditBody:
        request = parse(body, EditRequestBody)
        return edit_body(edits.request(customer.id, slug, request.instructions), None)

    @get(
        "/{slug:str}/edits",
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="The site's edit requests, newest first",
        responses={401: unauthenticated, 404: not_found},
    )
    def list_edits(customer: CurrentCustomer, slug: FromPath[str]) -> list[EditBody]:
        return [body(view) for view in edits.of_site(customer.id, slug)]

    @get(
        "/{slug:str}/edits/{edit_id:uuid}",
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="One edit request: its status, draft summary, preview link and diff",
        responses={401: unauthenticated, 404: not_found},
    )
    def show(customer: CurrentCustomer, slug: FromPath[str], edit_id: FromPath[uuid.UUID]) -> EditBody:
        return body(edits.get(customer.id, slug, edit_id))

    @post(
        "/{slug:str}/edits/{edit_id:uuid}/approve",
        status_code=200,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="Approve a ready draft: it becomes a new version, live at once",
        responses={
            401: unauthenticated,
            404: not_found,
            409: problem_spec(
                "The edit is not ready, the site is suspended, or another version went live "
                "since the draft was made (nothing changes)"
            ),
        },
    )
    def approve(customer: CurrentCustomer, slug: FromPath[str], edit_id: FromPath[uuid.UUID]) -> EditBody:
        return body(edits.approve(customer.id, slug, edit_id))

    @post(
        "/{slug:str}/edits/{edit_id:uuid}/reject",
        status_code=200,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="Reject a pending or ready edit",
        responses={
            401: unauthenticated,
            404: not_found,
            409: problem_spec("The edit is applied, rejected or failed"),
        },
    )
    def reject(customer: CurrentCustomer, slug: FromPath[str], edit_id: FromPath[uuid.UUID]) -> EditBody:
        return body(edits.reject(customer.id, slug, edit_id))

    @post(
        "/{slug:str}/versions/{number:int}/restore",
        status_code=201,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="Put an earlier version back: a new version with its files (history is kept)",
        responses={
            401: unauthenticated,
            404: problem_spec("No site of this customer has this slug, or it has no such version"),
            409: problem_spec("The site is suspended (or not owned, active or past due)"),
        },
    )
    def restore(customer: CurrentCustomer, slug: FromPath[str], number: FromPath[int]) -> VersionSummary:
        version = edits.restore(customer.id, slug, number)
        return VersionSummary.of(version, version.number)

    return Router(
        PREFIX,
        route_handlers=[ask, list_edits, show, approve, reject, restore],
        dependencies={"customer": customer_guard(accounts, tokens)},
        request_max_body_size=MAX_BODY_BYTES,
        tags=["edits and versions"],
    )
