"""Ports: what the core needs from the outside world, as Protocols, by concern:
persistence (repositories and the unit of work), sites, payments, mail, security, time,
queries. Edits and custom domains keep theirs beside their model (``webmagic_core.edits``,
``webmagic_core.domains``).

Adapters in ``webmagic_adapters`` implement them; fakes in ``webmagic_core.testing``
implement them in memory and pass the same contract suites (``tests/contract``).
"""

from __future__ import annotations

from webmagic_core.ports.mail import EmailRenderer, Mailer
from webmagic_core.ports.payments import (
    PaymentEventTranslator,
    PaymentGateway,
    WebhookReceiver,
    WebhookSigner,
    WebhookVerifier,
)
from webmagic_core.ports.persistence import (
    AnomalyRepository,
    CustomerRepository,
    NoticeRepository,
    OutboxRepository,
    PurchaseRepository,
    RefreshSessionRepository,
    SubscriptionRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    WebhookEventRepository,
)
from webmagic_core.ports.publishing import Inventory, PublishClaim, Publisher, PublishQueue, SitePublication
from webmagic_core.ports.queries import (
    EDITS_SHOWN,
    EditRow,
    EventRow,
    PaymentRow,
    SalesFigures,
    SitePageQuery,
    SitePageRows,
    SiteRow,
    StatsQuery,
    SubscriptionFigures,
    VersionRow,
)
from webmagic_core.ports.security import PasswordHasher, RateLimiter, TokenSigner
from webmagic_core.ports.sites import (
    BlobUsage,
    PreviewBanner,
    SiteDirectory,
    SiteHead,
    SiteRepository,
    SiteRewriter,
)
from webmagic_core.ports.time import Clock

__all__ = [
    "EDITS_SHOWN",
    "AnomalyRepository",
    "BlobUsage",
    "Clock",
    "CustomerRepository",
    "EditRow",
    "EmailRenderer",
    "EventRow",
    "Inventory",
    "Mailer",
    "NoticeRepository",
    "OutboxRepository",
    "PasswordHasher",
    "PaymentEventTranslator",
    "PaymentGateway",
    "PaymentRow",
    "PreviewBanner",
    "PublishClaim",
    "PublishQueue",
    "Publisher",
    "PurchaseRepository",
    "RateLimiter",
    "RefreshSessionRepository",
    "SalesFigures",
    "SiteDirectory",
    "SiteHead",
    "SitePageQuery",
    "SitePageRows",
    "SitePublication",
    "SiteRepository",
    "SiteRewriter",
    "SiteRow",
    "StatsQuery",
    "SubscriptionFigures",
    "SubscriptionRepository",
    "TokenSigner",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "VersionRow",
    "WebhookEventRepository",
    "WebhookReceiver",
    "WebhookSigner",
    "WebhookVerifier",
]
