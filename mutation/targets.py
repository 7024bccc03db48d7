"""What `nox -s mutate` mutates, and the few fast tests aimed at each critical module.

Each target names its source files, optionally the functions inside them that carry the rule
(``functions``: mutmut's mangled names, ``x_name`` for a function, ``xǁClassǁmethod`` for a
method, ``*`` allowed; without it every function of the files counts), and the tests that
target it. The selections stay small and fast (unit tests on the in-memory adapters and fakes
where those kill the mutants) so the whole session fits in 15 minutes on a 2-core machine;
the concurrency tests on PostgreSQL (tests/contract/test_one_winner.py) live in the ordinary
suite, since a lock is invisible to a single-threaded test.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    name: str
    sources: tuple[str, ...]
    tests: tuple[str, ...]
    functions: tuple[str, ...] = field(default=())


ACCOUNT = "xǁAccountServiceǁ"
THROTTLE = "xǁAccountThrottleǁ"
PURCHASE = "xǁPurchaseServiceǁ"
PURCHASE_EVENTS = "xǁPurchaseEventHandlerǁ"
RELAY = "xǁOutboxRelayǁ"
EDITS = "xǁEditServiceǁ"
DOMAINS = "xǁDomainServiceǁ"

TARGETS: tuple[Target, ...] = (
    Target(
        "signature",
        ("src/webmagic_adapters/payments/svix.py",),
        ("tests/contract/test_webhook_verifier.py",),
    ),
    Target(
        "lifecycle",
        ("src/webmagic_core/lifecycle.py", "src/webmagic_core/sites.py"),
        ("tests/unit/test_lifecycle.py", "tests/unit/test_site_model.py", "tests/unit/test_site_service.py"),
        ("x_next_status", "x_can_apply", "x_policy", "xǁSiteǁ*"),
    ),
    Target(
        "webhooks",
        ("src/webmagic_core/services/webhooks.py",),
        (
            "tests/unit/test_webhooks.py",
            "tests/unit/test_webhook_records.py",
            "tests/unit/test_money_events.py",
        ),
        (
            "x_run_after_commit",
            "xǁWebhookServiceǁreceive",
            "xǁWebhookServiceǁreplay",
            "xǁWebhookServiceǁroute",
            "xǁWebhookServiceǁdispatch",
            "xǁWebhookServiceǁ_receive",
            "xǁWebhookServiceǁ_process",
            "xǁWebhookServiceǁ_anomaly",
            "xǁWebhookServiceǁ_stored",
        ),
    ),
    Target(
        "purchases",
        (
            "src/webmagic_core/services/purchases.py",
            "src/webmagic_core/services/purchase_events.py",
            "src/webmagic_core/services/checkout_holds.py",
        ),
        (
            "tests/unit/test_purchases.py",
            "tests/unit/test_purchase_holds.py",
            "tests/unit/test_purchase_limits.py",
            "tests/unit/test_purchase_records.py",
            "tests/unit/test_purchase_release.py",
        ),
        (
            *(
                PURCHASE + name
                for name in (
                    "start",
                    "cancel",
                    "_throttle",
                    "_settle_stale_holds",
                    "_holder",
                    "_same_buyer",
                    "_check_holds",
                )
            ),
            *(
                PURCHASE_EVENTS + name
                for name in ("_succeeded", "_failed", "_second_payment", "release_others", "_find")
            ),
            "xǁHeldCheckoutsǁopen",
        ),
    ),
    Target(
        "subscriptions",
        ("src/webmagic_core/payments/subscriptions.py",),
        (
            "tests/unit/test_subscription_model.py",
            "tests/unit/test_subscriptions.py",
            "tests/unit/test_subscriptions_order.py",
            "tests/unit/test_subscription_trial.py",
        ),
        tuple(
            "xǁSubscriptionǁ" + name
            for name in (
                "is_live",
                "is_started",
                "holds_checkout",
                "is_stale",
                "covers",
                "attach_checkout",
                "mark_expired",
                "observe",
                "credit",
                "period_paid_by",
                "close_if_over",
            )
        ),
    ),
    Target(
        "outbox",
        ("src/webmagic_core/services/outbox.py", "src/webmagic_core/outbox.py"),
        ("tests/unit/test_outbox_relay.py",),
        (
            "x_backoff",
            "xǁOutboxMessageǁmark_sent",
            "xǁOutboxMessageǁpending",
            RELAY + "run_once",
            RELAY + "drain",
            RELAY + "_send",
            RELAY + "_record",
            RELAY + "requeue",
            RELAY + "requeue_all_dead",
        ),
    ),
    Target(
        "passwords",
        (
            "src/webmagic_core/accounts/passwords.py",
            "src/webmagic_core/accounts/tokens.py",
            "src/webmagic_adapters/passwords.py",
            "src/webmagic_adapters/tokens.py",
        ),
        (
            "tests/unit/test_passwords.py",
            "tests/unit/test_tokens.py",
            "tests/contract/test_password_hasher.py",
        ),
    ),
    Target(
        "refresh",
        ("src/webmagic_core/services/accounts.py",),
        ("tests/unit/test_account_service.py", "tests/unit/test_sign_out_everywhere.py"),
        tuple(
            ACCOUNT + name for name in ("login", "refresh", "logout", "authenticate", "sign_out_everywhere")
        ),
    ),
    Target(
        "ratelimit",
        (
            "src/webmagic_adapters/ratelimit.py",
            "src/webmagic_core/ratelimit.py",
            "src/webmagic_core/services/account_throttle.py",
        ),
        ("tests/contract/test_rate_limiter_contract.py", "tests/contract/test_login_throttling.py"),
        (
            "x_check_limit",
            "x__milliseconds",
            "xǁ_ClockedMemoryStorageǁ*",
            "xǁLimitsRateLimiterǁ*",
            THROTTLE + "_refuse_login_if_throttled",
            THROTTLE + "_count_failed_login",
            THROTTLE + "_forgive_account",
        ),
    ),
    Target(
        "edits",
        ("src/webmagic_core/services/edits.py",),
        # The hypothesis state machine draws differently under the trampolines: it is left out.
        (
            "tests/unit/test_edit_events.py",
            "tests/unit/test_edits.py",
            "--deselect=tests/unit/test_edits.py::TestEditMachine",
        ),
        (EDITS + "approve", EDITS + "reject", "x__require_editable", "x__edit_of"),
    ),
    Target(
        "domains",
        ("src/webmagic_core/services/domains.py", "src/webmagic_core/domains/model.py"),
        # The state machine (several seconds a run) is left to the ordinary suite.
        (
            "tests/unit/test_domain_certificate_record.py",
            "tests/unit/test_domain_check_report.py",
            "tests/unit/test_domains.py",
            "--deselect=tests/unit/test_domains.py::TestDomainMachine",
        ),
        (
            "x_judge",
            DOMAINS + "verify",
            DOMAINS + "check_one",
            DOMAINS + "_apply_proof",
            DOMAINS + "_check_certificate",
            "x_certificate_status",
            "xǁCustomDomainǁ*",
        ),
    ),
)

BY_NAME = {target.name: target for target in TARGETS}
