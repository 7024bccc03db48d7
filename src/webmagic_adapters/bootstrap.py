"""The composition root: turns settings into a container of wired services.

Nothing here runs at import time; ``bootstrap()`` creates the engine (lazily connecting)
and every adapter, and ``Container.close()`` releases them.
"""

from __future__ import annotations

import attrs

from webmagic_adapters.emails import normalize_email
from webmagic_adapters.mail.folder import FolderMailer
from webmagic_adapters.mail.smtp import SmtpMailer
from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.passwords import BcryptPasswordHasher, load_common_passwords
from webmagic_adapters.settings import Settings, load_settings
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.site_directory import SqlSiteDirectory
from webmagic_adapters.tokens import ItsDangerousTokenSigner
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.accounts.ports import EmailRenderer, Mailer, PasswordHasher, TokenSigner
from webmagic_core.clock import SystemClock
from webmagic_core.ports import Clock, RateLimiter
from webmagic_core.ratelimit import InMemoryRateLimiter
from webmagic_core.services.accounts import AccountLinks, AccountService
from webmagic_core.services.outbox import OutboxRelay
from webmagic_core.services.sites import SiteService


@attrs.define
class Container:
    settings: Settings
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

    def close(self) -> None:
        self.site_directory.close()
        self.database.dispose()


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is not None:
        return SmtpMailer.from_url(settings.smtp_url.get_secret_value(), sender=settings.mail_from)
    return FolderMailer(settings.mail_dir, sender=settings.mail_from)


def build_rate_limiter(settings: Settings, clock: Clock) -> RateLimiter:
    if settings.redis_url is not None:
        from webmagic_adapters.ratelimit_redis import RedisRateLimiter

        return RedisRateLimiter.from_url(settings.redis_url.get_secret_value())
    return InMemoryRateLimiter(clock=clock)


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    hasher: PasswordHasher | None = None,
) -> Container:
    """Wire every service. Tests may hand in a clock, mailer or (fast) hasher."""
    settings = settings or load_settings()
    clock = clock or SystemClock()
    database = Database(settings.resolved_database_url)
    mailer = mailer or build_mailer(settings)
    hasher = hasher or BcryptPasswordHasher(settings.bcrypt_rounds)
    signer = ItsDangerousTokenSigner(settings.secret_key_value(), clock=clock)
    renderer = JinjaEmailRenderer()
    rate_limiter = build_rate_limiter(settings, clock)
    uow = database.unit_of_work
    site_directory = SqlSiteDirectory(database.engine)
    return Container(
        settings=settings,
        database=database,
        clock=clock,
        sites=SiteService(uow=uow, clock=clock, directory=site_directory),
        accounts=AccountService(
            uow=uow,
            clock=clock,
            hasher=hasher,
            signer=signer,
            renderer=renderer,
            policy=PasswordPolicy(load_common_passwords()),
            rate_limiter=rate_limiter,
            links=AccountLinks(settings.public_url),
            normalize_email=normalize_email,
        ),
        relay=OutboxRelay(uow=uow, mailer=mailer, clock=clock),
        mailer=mailer,
        renderer=renderer,
        signer=signer,
        hasher=hasher,
        rate_limiter=rate_limiter,
        site_directory=site_directory,
    )
