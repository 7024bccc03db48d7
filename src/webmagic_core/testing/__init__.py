"""In-memory fakes of the core's ports. First-class code: they pass the contract suites."""

from webmagic_core.testing.fakes import (
    FakeClock,
    FakeCustomerRepository,
    FakeOutboxRepository,
    FakeRateLimiter,
    FakeRefreshSessionRepository,
    FakeSiteRepository,
    FakeUnitOfWork,
    FakeUnitOfWorkFactory,
)

__all__ = [
    "FakeClock",
    "FakeCustomerRepository",
    "FakeOutboxRepository",
    "FakeRateLimiter",
    "FakeRefreshSessionRepository",
    "FakeSiteRepository",
    "FakeUnitOfWork",
    "FakeUnitOfWorkFactory",
]
