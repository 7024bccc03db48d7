"""In-memory fakes of the core's ports. First-class code: they pass the contract suites."""

from webmagic_core.testing.fakes import (
    FakeAnomalyRepository,
    FakeClock,
    FakeCustomerRepository,
    FakeNoticeRepository,
    FakeOutboxRepository,
    FakePublishQueue,
    FakePurchaseRepository,
    FakeRateLimiter,
    FakeRefreshSessionRepository,
    FakeSiteRepository,
    FakeStatsQuery,
    FakeSubscriptionRepository,
    FakeUnitOfWork,
    FakeUnitOfWorkFactory,
    FakeWebhookEventRepository,
)

__all__ = [
    "FakeAnomalyRepository",
    "FakeClock",
    "FakeCustomerRepository",
    "FakeNoticeRepository",
    "FakeOutboxRepository",
    "FakePublishQueue",
    "FakePurchaseRepository",
    "FakeRateLimiter",
    "FakeRefreshSessionRepository",
    "FakeSiteRepository",
    "FakeStatsQuery",
    "FakeSubscriptionRepository",
    "FakeUnitOfWork",
    "FakeUnitOfWorkFactory",
    "FakeWebhookEventRepository",
]
