"""The composition root: turns settings into a container of wired services.

Nothing here runs at import time; ``bootstrap()`` creates the engine (lazily connecting)
and every adapter, and ``Container.close()`` releases them.

It is also the one door of the adapters for the drivers (``webmagic_http``, ``webmagic_cli``):
what they need besides the container (settings loading, database administration and backups,
site folders and demo data, the sandbox's pages and deliveries, log setup, money as people
read it) is re-exported here, and they import nothing else from ``webmagic_adapters``
(``tests/architecture``).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import attrs

from webmagic_adapters.demo import load_demo_results
from webmagic_adapters.dns_resolver import DnsPythonResolver, parse_nameservers
from webmagic_adapters.domain_names import domain_normalizer, own_hosts
from webmagic_adapters.edit_engines.manual import ManualEngine
from webmagic_adapters.edit_engines.openai import OpenAIEngine
from webmagic_adapters.emails import normalize_email
from webmagic_adapters.front_configs import Front, FrontConfigError, caddyfile, nginx_config
from webmagic_adapters.keys import EMAIL_LINKS_LABEL, PREVIEW_LINKS_LABEL, PURCHASE_RETURN_LABEL, Keyring
from webmagic_adapters.logs import uvicorn_log_config
from webmagic_adapters.mail.folder import FolderMailer
from webmagic_adapters.mail.smtp import SmtpMailer
from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.money_format import format_money, format_monthly
from webmagic_adapters.page_bodies import PageBodyFiles
from webmagic_adapters.passwords import BcryptPasswordHasher, load_common_passwords
from webmagic_adapters.payments.recurrente import RecurrenteGateway
from webmagic_adapters.payments.recurrente_events import RecurrenteEventTranslator
from webmagic_adapters.payments.sandbox import CHECKOUT_PATH, DECLINED, SandboxCheckout, SandboxGateway
from webmagic_adapters.payments.sandbox_delivery import (
    WEBHOOK_PATH,
    Delivery,
    SandboxWebhook,
    deliver_in_process,
    deliver_over_http,
    webhook_url,
)
from webmagic_adapters.payments.svix import SvixWebhookSigner, SvixWebhookVerifier
from webmagic_adapters.preview_banner import HtmlPreviewBanner, banner_html
from webmagic_adapters.preview_links import SignedPreviewLinks
from webmagic_adapters.ratelimit import memory_rate_limiter, redis_rate_limiter
from webmagic_adapters.sandbox_clock import (
    DurationError,
    SandboxClock,
    SandboxClockStore,
    describe_offset,
    parse_duration,
)
from webmagic_adapters.settings import EditEngineName, Payments, Settings, SettingsError, load_settings
from webmagic_adapters.settings_reference import env_example as settings_env_example
from webmagic_adapters.settings_reference import markdown as settings_markdown
from webmagic_adapters.settings_reference import reference as settings_reference
from webmagic_adapters.site_folders import (
    HTML_FILE,
    ImportResult,
    Outcome,
    import_site_folder,
    read_folder_files,
    read_limited,
    site_folders,
)
from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_adapters.sqlalchemy.backup import (
    BackupError,
    PostgresAdvice,
    backup_sqlite,
    head_revision,
    known_revisions,
    postgres_backup_advice,
    restore_sqlite,
    sqlite_path,
)
from webmagic_adapters.sqlalchemy.customer_admin_repository import customer_admin_units_of_work
from webmagic_adapters.sqlalchemy.database import BAD_DATABASE_URL, Database, sqlite_file_problem
from webmagic_adapters.sqlalchemy.domains_repository import SqlHostDirectory, domain_units_of_work
from webmagic_adapters.sqlalchemy.edits_repository import edit_units_of_work
from webmagic_adapters.sqlalchemy.errors import translating_errors
from webmagic_adapters.sqlalchemy.monitoring import SqlOperationsQuery
from webmagic_adapters.sqlalchemy.site_directory import SqlSiteDirectory
from webmagic_adapters.sqlalchemy.site_page import SqlSitePageQuery
from webmagic_adapters.sqlalchemy.stats import SqlStatsQuery
from webmagic_adapters.static_folder import FolderPublisher, PublishFolderError
from webmagic_adapters.tls_probe import SocketCertificateProbe
from webmagic_adapters.tokens import ItsDangerousTokenSigner
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.accounts.ports import EmailRenderer, Mailer, PasswordHasher, TokenSigner
from webmagic_core.clock import SystemClock
from webmagic_core.domains.ports import CertificateProbe, DnsResolver
from webmagic_core.edits.ports import EditEngine
from webmagic_core.money import Money
from webmagic_core.monitoring import OperationsQuery
from webmagic_core.payments.gateway import PaymentGateway
from webmagic_core.payments.webhooks import WebhookVerifier
from webmagic_core.ports import Clock, RateLimiter
from webmagic_core.services.accounts import AccountLinks, AccountService
from webmagic_core.services.anomalies import AnomalyService
from webmagic_core.services.archiving import SiteArchiver
from webmagic_core.services.customers import CustomerService
from webmagic_core.services.domains import DomainConfig, DomainService
from webmagic_core.services.edits import EditConfig, EditService
from webmagic_core.services.outbox import OutboxRelay
from webmagic_core.services.publishing import PublishingWorker
from webmagic_core.services.purchases import PurchaseConfig, PurchaseService
from webmagic_core.services.site_page import SitePageService
from webmagic_core.services.sites import SiteService
from webmagic_core.services.stats import StatsService
from webmagic_core.services.subscriptions import SubscriptionConfig, SubscriptionService
from webmagic_core.services.sweep import LifecycleSweep
from webmagic_core.services.timeline import TimelineService
from webmagic_core.services.webhooks import WebhookService
from webmagic_core.services.wiring import Ports, Terms, wire

# The public names: the container and its builders, and the re-exports the drivers use.
# fmt: off
__all__ = [
    "BAD_DATABASE_URL", "CHECKOUT_PATH", "DECLINED", "HTML_FILE", "WEBHOOK_PATH", "BackupError",
    "Container", "Database", "Delivery", "DurationError", "FolderPublisher", "Front", "FrontConfigError",
    "ImportResult", "Keyring", "Outcome", "Payments", "PostgresAdvice", "PublishFolderError",
    "SandboxCheckout", "SandboxClockStore", "SandboxGateway", "SandboxWebhook", "Settings",
    "SettingsError", "backup_sqlite", "banner_html", "bootstrap", "build_clock",
    "build_domains", "build_edit_engine", "build_edits", "build_gateway", "build_mailer",
    "build_publishing", "build_rate_limiter", "caddyfile", "deliver_in_process", "deliver_over_http",
    "describe_offset", "format_money", "format_monthly", "head_revision", "import_site_folder",
    "known_revisions", "load_demo_results", "load_settings", "nginx_config", "parse_duration",
    "postgres_backup_advice", "read_folder_files", "read_limited", "restore_sqlite",
    "settings_env_example", "settings_markdown", "settings_reference", "site_folders",
    "sqlite_file_problem", "sqlite_path", "translating_errors", "uvicorn_log_config", "webhook_url"
]
# fmt: on


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
    banner: HtmlPreviewBanner
    archiver: SiteArchiver
    customers: CustomerService
    # Edits (phase 4).
    edits: EditService
    edit_engine: EditEngine
    # The portal's site page, read in one go.
    site_pages: SitePageService
    # Static publishing: None unless WEBMAGIC_PUBLISH_DIR is set.
    publishing: PublishingWorker | None = None
    # Hosting's local disk copy of page bodies: None with WEBMAGIC_PAGE_BODY_CACHE_BYTES=0.
    page_bodies: PageBodyFiles | None = None

    @property
    def sandbox(self) -> SandboxGateway | None:
        """The sandbox gateway when payments are simulated (it serves its own checkout pages)."""
        return self.gateway if isinstance(self.gateway, SandboxGateway) else None

    def close(self) -> None:
        for client in (self.gateway, self.edit_engine):
            close = getattr(client, "close", None)
            if close is not None:
                close()
        self.site_directory.close()
        self.host_directory.close()
        self.database.dispose()


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is not None:
        return SmtpMailer.from_url(settings.smtp_url.get_secret_value(), sender=settings.mail_from)
    return FolderMailer(settings.mail_dir, sender=settings.mail_from)


def build_clock(settings: Settings, database: Database) -> Clock:
    """The system clock; with sandbox payments, moved forward by the stored sandbox offset
    (``webmagic sandbox clock``), which real payments never read. (A clock handed in by a
    test is used as it is.) An in-memory database lives in one process, out of the CLI's
    reach: no offset there."""
    if settings.payments is Payments.SANDBOX and not database.in_memory:
        return SandboxClock(SystemClock(), SandboxClockStore(database.engine))
    return SystemClock()


def build_rate_limiter(settings: Settings, clock: Clock) -> RateLimiter:
    if settings.redis_url is not None:
        return redis_rate_limiter(settings.redis_url.get_secret_value(), clock=clock)
    return memory_rate_limiter(clock)


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
    edit_engine: EditEngine | None = None,
) -> Container:
    """Wire every service. Tests may hand in a clock, mailer, (fast) hasher, payment
    gateway, DNS resolver, certificate probe or edit engine."""
    settings = settings or load_settings()
    settings.secure_data_dir()
    keys = settings.keyring()
    database = Database(
        settings.resolved_database_url, keys=keys, publishing=settings.publish_dir is not None
    )
    clock = clock or build_clock(settings, database)
    mailer = mailer or build_mailer(settings)
    hasher = hasher or BcryptPasswordHasher(settings.bcrypt_rounds)
    current_link_key, *previous_link_keys = keys.verification_keys(EMAIL_LINKS_LABEL)
    signer = ItsDangerousTokenSigner(current_link_key, previous=previous_link_keys, clock=clock)
    renderer = JinjaEmailRenderer()
    rate_limiter = build_rate_limiter(settings, clock)
    uow = database.unit_of_work
    site_directory = SqlSiteDirectory(database.engine)
    rewriter = ParserSiteRewriter()
    banner = HtmlPreviewBanner(
        rewriter,
        price=format_money(Money(settings.site_price_cents, settings.currency)),
        purchase_base_url=settings.public_url,
    )
    gateway = gateway or build_gateway(settings, database, clock)
    ports = Ports(
        uow=uow,
        clock=clock,
        gateway=gateway,
        # Every gateway here (Recurrente, its sandbox and imitation) sends Recurrente's bodies.
        translator=RecurrenteEventTranslator(),
        mailer=mailer,
        renderer=renderer,
        hasher=hasher,
        signer=signer,
        rate_limiter=rate_limiter,
        policy=PasswordPolicy(load_common_passwords()),
        normalize_email=normalize_email,
    )
    terms = Terms(
        purchase=PurchaseConfig(
            price=Money(settings.site_price_cents, settings.currency),
            public_url=settings.public_url,
            sites_base_url=settings.resolved_sites_base_url,
            owned_hosting_days=settings.owned_hosting_days,
            # Return pages live as long as a hold (minutes): no previous key is needed.
            return_key=bytes.fromhex(keys.key(PURCHASE_RETURN_LABEL)),
        ),
        subscription=SubscriptionConfig(
            price=Money(settings.subscription_price_cents, settings.currency),
            public_url=settings.public_url,
            sites_base_url=settings.resolved_sites_base_url,
            owned_hosting_days=settings.owned_hosting_days,
        ),
        links=AccountLinks(settings.public_url),
        admin_email=settings.admin_email,
    )
    # The sweep's housekeeping belongs to the customers service, made from the accounts
    # service below: bound late.
    used = wire(ports, terms, forget_old_addresses=lambda: customers.forget_old_addresses())
    accounts, purchases, subscriptions = used.accounts, used.purchases, used.subscriptions
    host_directory = SqlHostDirectory(database.engine)
    domains = build_domains(settings, database, clock, host_directory, resolver, probe)
    customers = CustomerService(
        uow=customer_admin_units_of_work(database),
        clock=clock,
        accounts=accounts,
        activity_retention=dt.timedelta(days=settings.login_address_retention_days),
    )
    sites = SiteService(
        uow=uow,
        clock=clock,
        directory=site_directory,
        rewriter=rewriter,
        banner=banner,
        limits=settings.file_limits,
    )
    edit_engine = edit_engine or build_edit_engine(settings)
    edits = build_edits(settings, database, clock, sites, edit_engine, keys)
    return Container(
        settings=settings,
        keys=keys,
        database=database,
        clock=clock,
        sites=sites,
        site_directory=site_directory,
        accounts=accounts,
        relay=used.relay,
        mailer=mailer,
        renderer=renderer,
        signer=signer,
        hasher=hasher,
        rate_limiter=rate_limiter,
        gateway=gateway,
        verifier=SvixWebhookVerifier(settings.webhook_secret_value(), clock=clock),
        purchases=purchases,
        webhooks=used.webhooks,
        anomalies=used.anomalies,
        stats=StatsService(SqlStatsQuery(database)),
        timeline=TimelineService(uow=uow, sources=[domains.timeline, customers.timeline], money=format_money),
        subscriptions=subscriptions,
        sweep=used.sweep,
        archiver=used.archiver,
        operations=SqlOperationsQuery(database),
        rewriter=rewriter,
        banner=banner,
        domains=domains,
        host_directory=host_directory,
        customers=customers,
        edits=edits,
        edit_engine=edit_engine,
        site_pages=SitePageService(SqlSitePageQuery(database), clock),
        publishing=build_publishing(settings, database, clock, rewriter),
        page_bodies=(
            PageBodyFiles(settings.page_bodies_dir, settings.page_body_cache_bytes)
            if settings.page_body_cache_bytes
            else None
        ),
    )


def build_publishing(
    settings: Settings, database: Database, clock: Clock, rewriter: ParserSiteRewriter
) -> PublishingWorker | None:
    """The worker writing WEBMAGIC_PUBLISH_DIR (None when unset): the banner as hosting
    renders it (the same price text and purchase URL, see ``webmagic_http.app``)."""
    if settings.publish_dir is None:
        return None
    price = format_money(Money(settings.site_price_cents, settings.currency))
    return PublishingWorker(
        uow=domain_units_of_work(database),
        clock=clock,
        publisher=FolderPublisher(settings.publish_dir),
        banner=HtmlPreviewBanner(rewriter, price=price, purchase_base_url=settings.public_url),
    )


def build_edit_engine(settings: Settings) -> EditEngine:
    """The engine WEBMAGIC_EDIT_ENGINE names (settings guarantee the key of ``openai``)."""
    if settings.edit_engine is EditEngineName.OPENAI:
        assert settings.llm_api_key is not None
        return OpenAIEngine(
            settings.llm_base_url,
            settings.llm_api_key.get_secret_value(),
            settings.llm_model,
            timeout=settings.llm_timeout_seconds,
        )
    return ManualEngine()


def build_edits(
    settings: Settings,
    database: Database,
    clock: Clock,
    sites: SiteService,
    engine: EditEngine,
    keys: Keyring,
) -> EditService:
    sites_base = settings.resolved_sites_base_url
    public_url = settings.public_url
    current, *previous = keys.verification_keys(PREVIEW_LINKS_LABEL)
    return EditService(
        uow=edit_units_of_work(database),
        clock=clock,
        sites=sites,
        engine=engine,
        links=SignedPreviewLinks(ItsDangerousTokenSigner(current, previous=previous, clock=clock)),
        config=EditConfig(
            per_month=settings.edits_per_month,
            site_url=lambda slug: f"{sites_base}/{slug}",
            manage_url=lambda slug: f"{public_url}/portal/sites/{slug}",
            preview_url=lambda token: f"{sites_base}/_preview/{token}/",
            admin_email=settings.admin_email,
        ),
    )


def build_domains(
    settings: Settings,
    database: Database,
    clock: Clock,
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
