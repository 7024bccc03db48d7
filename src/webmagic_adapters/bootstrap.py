"""The composition root: turns settings into a container of wired services.

Nothing here runs at import time; ``bootstrap()`` creates the engine (lazily connecting)
and every adapter, and ``Container.close()`` releases them.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import attrs

from webmagic_adapters.dns_resolver import DnsPythonResolver, parse_nameservers
from webmagic_adapters.domain_names import domain_normalizer, own_hosts
from webmagic_adapters.emails import normalize_email
from webmagic_adapters.keys import EMAIL_LINKS_LABEL, PURCHASE_RETURN_LABEL, Keyring
from webmagic_adapters.mail.folder import FolderMailer
from webmagic_adapters.mail.smtp import SmtpMailer
from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.passwords import BcryptPasswordHasher, load_common_passwords
from webmagic_adapters.payments.recurrente import RecurrenteGateway
from webmagic_adapters.payments.sandbox import SandboxGateway
from webmagic_adapters.payments.svix import SvixWebhookSigner, SvixWebhookVerifier
from webmagic_adapters.settings import Payments, Settings, load_settings
from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_adapters.sqlalchemy.customer_admin_repository import customer_admin_units_of_work
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.domains_repository import SqlHostDirectory, domain_units_of_work
from webmagic_adapters.sqlalchemy.monitoring import SqlOperationsQuery
from webmagic_adapters.sqlalchemy.site_directory import SqlSiteDirectory
from webmagic_adapters.sqlalchemy.stats import SqlStatsQuery
from webmagic_adapters.tls_probe import SocketCertificateProbe
from webmagic_adapters.tokens import ItsDangerousTokenSigner
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.accounts.ports import EmailRenderer, Mailer, PasswordHasher, TokenSigner
from webmagic_core.clock import SystemClock
from webmagic_core.domains.ports import CertificateProbe, DnsResolver
from webmagic_core.money import Money
from webmagic_core.monitoring import OperationsQuery
from webmagic_core.payments.gateway import PaymentGateway
from webmagic_core.payments.webhooks import WebhookVerifier
from webmagic_core.ports import Clock, RateLimiter
from webmagic_core.ratelimit import InMemoryRateLimiter
from webmagic_core.services.accounts import AccountLinks, AccountService
from webmagic_core.services.anomalies import AnomalyReporter, AnomalyService
from webmagic_core.services.archiving import SiteArchiver
from webmagic_core.services.customers import CustomerService
from webmagic_core.services.domains import DomainConfig, DomainService
from webmagic_core.services.outbox import OutboxRelay
from webmagic_core.services.purchases import PurchaseConfig, PurchaseService
from webmagic_core.services.sites import SiteService
from webmagic_core.services.stats import StatsService
from webmagic_core.services.subscriptions import SubscriptionConfig, SubscriptionService
from webmagic_core.services.sweep import LifecycleSweep
from webmagic_core.services.timeline import TimelineService
from webmagic_core.services.webhooks import WebhookService


@attrs.define
class Container:
    settings: Settings
    keys: Keyring
    database: Database
    clock: Clock
    sites: SiteService
    accounts: AccountService
    relay: OutboxRelay
    mailer: Mailer
    renderer: EmailRenderer
    signer: TokenSigner
    hasher: PasswordHasher
    rate_limiter: RateLimiter
    site_directory: SqlSiteDirectory
    gateway: PaymentGateway
    verifier: WebhookVerifier
    purchases: PurchaseService
    webhooks: WebhookService
    anomalies: AnomalyService
    stats: StatsService
    timeline: TimelineService
    subscriptions: SubscriptionService
    sweep: LifecycleSweep
    operations: OperationsQuery
    # Custom domains (phase 5).
    domains: DomainService
    host_directory: SqlHostDirectory
    rewriter: ParserSiteRewriter
    archiver: SiteArchiver
    customers: CustomerService

    @property
    def sandbox(self) -> SandboxGateway | None:
        """The sandbox gateway when payments are simulated (it serves its own checkout pages)."""
        return self.gateway if isinstance(self.gateway, SandboxGateway) else None

    def close(self) -> None:
        close_gateway = getattr(self.gateway, "close", None)
        if close_gateway is not None:
            close_gateway()
        self.site_directory.close()
        self.host_directory.close()
        self.database.dispose()


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is not None:
        return SmtpMailer.from_url(settings.smtp_url.get_secret_value(), sender=settings.mail_from)
    return FolderMailer(settings.mail_dir, sender=settings.mail_from)


def build_rate_limiter(settings: Settings, clock: Clock) -> RateLimiter:
    if settings.redis_url is not None:
        from webmagic_adapters.ratelimit_redis import RedisRateLimiter

        return RedisRateLimiter.from_url(settings.redis_url.get_secret_value(), clock=clock)
    return InMemoryRateLimiter(clock=clock)


def build_gateway(settings: Settings, database: Database, clock: Clock) -> PaymentGateway:
    """Recurrente when configured (settings guarantee its keys); else the sandbox, never both."""
    if settings.payments is Payments.RECURRENTE:
        assert settings.recurrente_public_key is not None
        assert settings.recurrente_secret_key is not None
        return RecurrenteGateway(
            settings.recurrente_api_base,
            settings.recurrente_public_key.get_secret_value(),
            settings.recurrente_secret_key.get_secret_value(),
        )
    return SandboxGateway(
        database,
        public_url=settings.public_url,
        signer=SvixWebhookSigner(settings.webhook_secret_value()),
        clock=clock,
    )


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    hasher: PasswordHasher | None = None,
    gateway: PaymentGateway | None = None,
    resolver: DnsResolver | None = None,
    probe: CertificateProbe | None = None,
) -> Container:
    """Wire every service. Tests may hand in a clock, mailer, (fast) hasher, payment
    gateway, DNS resolver or certificate probe."""
    settings = settings or load_settings()
    settings.secure_data_dir()
    clock = clock or SystemClock()
    keys = settings.keyring()
    database = Database(settings.resolved_database_url, keys=keys)
    mailer = mailer or build_mailer(settings)
    hasher = hasher or BcryptPasswordHasher(settings.bcrypt_rounds)
    current_link_key, *previous_link_keys = keys.verification_keys(EMAIL_LINKS_LABEL)
    signer = ItsDangerousTokenSigner(current_link_key, previous=previous_link_keys, clock=clock)
    renderer = JinjaEmailRenderer()
    rate_limiter = build_rate_limiter(settings, clock)
    uow = database.unit_of_work
    site_directory = SqlSiteDirectory(database.engine)
    rewriter = ParserSiteRewriter()
    accounts = AccountService(
        uow=uow,
        clock=clock,
        hasher=hasher,
        signer=signer,
        renderer=renderer,
        policy=PasswordPolicy(load_common_passwords()),
        rate_limiter=rate_limiter,
        links=AccountLinks(settings.public_url),
        normalize_email=normalize_email,
    )
    gateway = gateway or build_gateway(settings, database, clock)
    reporter = AnomalyReporter(renderer, admin_email=settings.admin_email)
    purchases = PurchaseService(
        uow=uow,
        clock=clock,
        gateway=gateway,
        accounts=accounts,
        renderer=renderer,
        rate_limiter=rate_limiter,
        anomalies=reporter,
        config=PurchaseConfig(
            price=Money(settings.site_price_cents, settings.currency),
            public_url=settings.public_url,
            sites_base_url=settings.resolved_sites_base_url,
            owned_hosting_days=settings.owned_hosting_days,
            # Return pages live as long as a hold (minutes): no previous key is needed.
            return_key=bytes.fromhex(keys.key(PURCHASE_RETURN_LABEL)),
        ),
    )
    subscriptions = SubscriptionService(
        uow=uow,
        clock=clock,
        gateway=gateway,
        renderer=renderer,
        anomalies=reporter,
        config=SubscriptionConfig(
            price=Money(settings.subscription_price_cents, settings.currency),
            public_url=settings.public_url,
            sites_base_url=settings.resolved_sites_base_url,
            owned_hosting_days=settings.owned_hosting_days,
        ),
    )
    host_directory = SqlHostDirectory(database.engine)
    domains = build_domains(settings, database, clock, renderer, host_directory, resolver, probe)
    archiver = SiteArchiver(purchases, subscriptions)
    customers = CustomerService(
        uow=customer_admin_units_of_work(database),
        clock=clock,
        accounts=accounts,
        activity_retention=dt.timedelta(days=settings.login_address_retention_days),
    )
    return Container(
        settings=settings,
        keys=keys,
        database=database,
        clock=clock,
        sites=SiteService(
            uow=uow, clock=clock, directory=site_directory, rewriter=rewriter, limits=settings.file_limits
        ),
        site_directory=site_directory,
        accounts=accounts,
        relay=OutboxRelay(uow=uow, mailer=mailer, clock=clock, on_dead=reporter.outbox_dying),
        mailer=mailer,
        renderer=renderer,
        signer=signer,
        hasher=hasher,
        rate_limiter=rate_limiter,
        gateway=gateway,
        verifier=SvixWebhookVerifier(settings.webhook_secret_value(), clock=clock),
        purchases=purchases,
        webhooks=WebhookService(
            uow=uow, clock=clock, purchases=purchases, subscriptions=subscriptions, anomalies=reporter
        ),
        anomalies=AnomalyService(uow=uow, clock=clock),
        stats=StatsService(SqlStatsQuery(database)),
        timeline=TimelineService(uow=uow, sources=[domains.timeline, customers.timeline]),
        subscriptions=subscriptions,
        sweep=LifecycleSweep(
            subscriptions,
            archiver=archiver,
            purchases=purchases,
            forget_old_addresses=customers.forget_old_addresses,
        ),
        archiver=archiver,
        operations=SqlOperationsQuery(database),
        rewriter=rewriter,
        domains=domains,
        host_directory=host_directory,
        customers=customers,
    )


def build_domains(
    settings: Settings,
    database: Database,
    clock: Clock,
    renderer: EmailRenderer,
    directory: SqlHostDirectory,
    resolver: DnsResolver | None = None,
    probe: CertificateProbe | None = None,
) -> DomainService:
    """Custom domains: DNS through WEBMAGIC_DNS_NAMESERVERS (else the system resolver),
    certificates probed on WEBMAGIC_TLS_PROBE_PORT; our own host names are refused."""
    nameservers = parse_nameservers(settings.dns_nameservers) if settings.dns_nameservers else None
    sites_base = settings.resolved_sites_base_url
    cnames_to = settings.sites_domain or urlsplit(sites_base).hostname or sites_base
    public_url = settings.public_url
    reserved = own_hosts(public_url, settings.sites_base_url, settings.sites_domain)

    def site_url(slug: str) -> str:
        return f"{sites_base}/{slug}"

    def manage_url(slug: str) -> str:
        return f"{public_url}/portal/sites/{slug}"

    return DomainService(
        uow=domain_units_of_work(database),
        clock=clock,
        resolver=resolver or DnsPythonResolver(nameservers, timeout=settings.dns_timeout_seconds),
        probe=probe or SocketCertificateProbe(settings.tls_probe_port, timeout=settings.dns_timeout_seconds),
        renderer=renderer,
        normalize=domain_normalizer(reserved),
        config=DomainConfig(
            cnames_to=cnames_to,
            grace=dt.timedelta(hours=settings.domain_grace_hours),
            site_url=site_url,
            manage_url=manage_url,
            admin_email=settings.admin_email,
            own_hosts=reserved,
        ),
        directory=directory,
    )
