"""Ids as tables show them (8 characters) are accepted wherever a command takes an id."""

from __future__ import annotations

import uuid

import pytest

from webmagic_cli.errors import UsageProblem
from webmagic_cli.options import resolve_id

A = uuid.UUID("0b7e3c1e-1111-4aaa-8bbb-000000000001")
B = uuid.UUID("0b7e3c1e-2222-4aaa-8bbb-000000000002")
C = uuid.UUID("9f000000-3333-4aaa-8bbb-000000000003")


def resolve(value: str) -> uuid.UUID:
    return resolve_id(value, "a message", "outbox list", lambda: [A, B, C])


def test_a_whole_id_or_a_unique_start_of_one() -> None:
    assert resolve(str(A)) == A
    assert resolve("9f000000") == C
    assert resolve("0B7E3C1E-22") == B  # any case, dashes as shown


def test_an_ambiguous_start_asks_for_more() -> None:
    with pytest.raises(UsageProblem, match="2 ids start with '0b7e3c1e': give more of the id"):
        resolve("0b7e3c1e")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("abc", "is not a message id"),
        ("xyz123", "is not a message id"),
        ("12345678", "no message id starts with '12345678'"),
    ],
)
def test_not_an_id(value: str, problem: str) -> None:
    with pytest.raises(UsageProblem, match=problem):
        resolve(value)
