"""Schemathesis over ``/schema/openapi.json``: generated requests, stateless (each operation
on its own) and stateful (operations chained through the links it infers), authenticated
as a test customer. Every response must be a non-5xx that conforms to the schema (status
code, content type, headers, body), as schemathesis's default checks judge.

Bounded for the normal suite (a few examples per operation, a few stateful scenarios, no
deadline, derandomised); ``pytest -s`` prints the figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from accounts_support import Accounts, open_accounts
from schemathesis.checks import positive_data_acceptance

MAX_EXAMPLES = 10
# "Schema-valid data must be accepted" would need the schema to say every rule of the
# input (a password's strength, a token's signature, a real email address); those answer
# 400 by design. Everything else is checked: no 5xx, documented status codes, content
# types, headers and bodies, and invalid data refused.
EXCLUDED_CHECKS = [positive_data_acceptance]
STATEFUL_EXAMPLES = 10
STATEFUL_STEPS = 12
BOUNDED = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Accounts]:
    with open_accounts(tmp_path / "data") as harness:
        yield harness


def signed_in(shop: Accounts) -> dict[str, str]:
    session = shop.signed_in("fuzz@example.com")
    return {"Authorization": f"Bearer {session['access_token']}"}


def test_every_operation_answers_within_its_schema(shop: Accounts) -> None:
    auth = signed_in(shop)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", shop.client.app)
    statuses: list[int] = []
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @BOUNDED
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            # The generated case may carry a made-up bearer token: the customer's wins.
            headers = {**(case.headers or {}), **auth}
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS, headers=headers)

        try:
            run()
        except (Exception, BaseExceptionGroup) as error:  # one line per failing operation, all together
            failures.append(f"{operation.label}: {str(error).strip().splitlines()[0]}")
    server_errors = sum(1 for status in statuses if status >= 500)
    print(f"\nschemathesis stateless: {operations} operations, {len(statuses)} requests, {server_errors} 5xx")
    assert failures == []
    assert server_errors == 0
    assert operations >= 20
    assert len(statuses) >= 100  # the run did reach the API


def test_chained_operations_answer_within_the_schema(shop: Accounts) -> None:
    auth = signed_in(shop)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", shop.client.app)
    statuses: list[int] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": {**(case.headers or {}), **auth}}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            statuses.append(response.status_code)
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS, transport_kwargs=kwargs)

    Machine.run(
        settings=hypothesis.settings(
            BOUNDED, max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEPS
        )
    )
    server_errors = sum(1 for status in statuses if status >= 500)
    print(f"\nschemathesis stateful: {len(statuses)} requests, {server_errors} 5xx")
    assert server_errors == 0
    assert len(statuses) >= STATEFUL_EXAMPLES  # scenarios did run
