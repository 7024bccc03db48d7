"""Fixtures shared by every test folder.

``postgres_url``: a PostgreSQL URL whose connections live in a fresh, empty schema (put
on the ``search_path``), dropped after the test. When the server cannot be reached the
test is skipped locally, and fails when ``CI`` (or ``WEBMAGIC_REQUIRE_POSTGRES=1``) is set.
Point ``WEBMAGIC_TEST_POSTGRES_URL`` elsewhere to use another server.

``redis_url``: the URL of a reachable Redis server, skipped or failed the same way (``CI`` or
``WEBMAGIC_REQUIRE_REDIS=1``; ``WEBMAGIC_TEST_REDIS_URL`` to use another server). The
server is shared: tests keep to keys under a prefix of their own and delete them after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from hypothesis import HealthCheck, settings
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import make_url

POSTGRES_URL = os.environ.get("WEBMAGIC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WEBMAGIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def postgres_required() -> bool:
    return _in_ci() or os.environ.get("WEBMAGIC_REQUIRE_POSTGRES") == "1"


def redis_required() -> bool:
    return _in_ci() or os.environ.get("WEBMAGIC_REQUIRE_REDIS") == "1"


def _libpq_url(url: str) -> str:
    # psycopg wants a plain postgresql:// URL, without SQLAlchemy's "+driver".
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL server (checked once per session)."""
    shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    try:
        psycopg.connect(_libpq_url(POSTGRES_URL), connect_timeout=3).close()
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        message = f"PostgreSQL is not reachable at {shown}: {reason}"
        if postgres_required():
            pytest.fail(
                f"{message}. PostgreSQL tests must run in CI (CI / WEBMAGIC_REQUIRE_POSTGRES is set); "
                "start the server or set WEBMAGIC_TEST_POSTGRES_URL.",
                pytrace=False,
            )
        pytest.skip(f"{message} (set CI=true to make this a failure)")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL on ``postgres_server`` confined to a new empty schema, dropped afterwards."""
    schema = f"wm_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq_url(postgres_server), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq_url(postgres_server), autocommit=True) as admin:
            admin.execute("SET lock_timeout = '10s'")
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The URL of a reachable Redis server (checked once per session)."""
    # One try: the client's default retries would make a missing server a long wait.
    client = redis.Redis.from_url(
        REDIS_URL, socket_connect_timeout=3, socket_timeout=3, retry=Retry(NoBackoff(), retries=0)
    )
    try:
        client.ping()
    except redis.RedisError as error:
        # redis-py's messages name host and port, never the password.
        message = f"Redis is not reachable: {str(error).rstrip('.')}"
        if redis_required():
            pytest.fail(
                f"{message}. Redis tests must run in CI (CI / WEBMAGIC_REQUIRE_REDIS is set); "
                "start the server or set WEBMAGIC_TEST_REDIS_URL.",
                pytrace=False,
            )
        pytest.skip(f"{message} (set CI=true to make this a failure)")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_url(redis_server: str) -> str:
    return redis_server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Skipped tests, one line per reason (``-rs`` would print one line per test: with the
    PostgreSQL server down that is a few hundred lines saying the same thing)."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.section("skipped, by reason", sep="-")
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{count:5d} skipped: {reason}")


# The default: the suite runs with `-n auto` on small shared machines, where generating an
# example can be slow for reasons that have nothing to do with the code under test; timing
# is for benchmarks/, not for property tests.
settings.register_profile(
    "default-suite", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("default-suite")

# `--hypothesis-profile=mutation` (mutation/run.py): fewer, repeatable examples and no example
# database, so each of thousands of mutant runs is short and sees the same inputs.
settings.register_profile(
    "mutation",
    parent=settings.get_profile("default-suite"),
    max_examples=20,
    derandomize=True,
    database=None,
)
