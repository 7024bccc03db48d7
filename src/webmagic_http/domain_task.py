"""The in-process re-verification of custom domains: a background task of the app
(``webmagic serve``).

At start-up and then every ``WEBMAGIC_DOMAIN_CHECK_INTERVAL_SECONDS`` (default 3600; 0
turns it off) it runs ``DomainService.check`` in a worker thread: every verified or failing
domain's TXT record is looked up again (a lost one goes ``failing``, then ``lapsed`` after
the grace) and its certificate probed. Several app processes, or ``webmagic domains
check`` from cron, may check at once: each outcome is applied under a row lock, and only
to the domain that was looked up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from webmagic_core.services.domains import CheckReport, DomainService
from webmagic_http.background import PeriodicTask, periodic_lifespan

log = logging.getLogger(__name__)


class BackgroundDomainCheck(PeriodicTask[CheckReport]):
    what = "the custom-domain check"

    def __init__(self, domains: DomainService, interval: float) -> None:
        super().__init__(domains.check, interval, log)
        self.last_report: CheckReport | None = None

    def handle(self, report: CheckReport) -> bool:
        self.last_report = report
        if report.errors:
            log.warning(
                "the custom-domain check could not check %d domain(s): %s",
                len(report.errors),
                "; ".join(report.errors),
            )
        log.debug("custom-domain check done: %s", report)
        return False


def domain_check_lifespan(
    domains: DomainService, interval: float
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    return periodic_lifespan(
        lambda: BackgroundDomainCheck(domains, interval),
        interval,
        state_name="domain_check",
        off_message="the in-process custom-domain check is off (WEBMAGIC_DOMAIN_CHECK_INTERVAL_SECONDS=0)",
    )
