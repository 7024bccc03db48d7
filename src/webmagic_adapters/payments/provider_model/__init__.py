"""The payment provider (Recurrente) as one pure model: its state, its rules, its payloads.

Three imitations of the provider wrap this model and add only what is theirs: the fake
gateway of the in-memory test worlds (``webmagic_core.testing.payments``, which may import
this package: see tests/architecture), the DB-backed sandbox (``sandbox``: storage, signing,
delivery) and the HTTP imitation (``imitation``: Recurrente's wire format and faults).
What they share is here, once:

- ``rules``: ids (``new_id``), the first period's end (a month, or the free trial), what
  ``POST /checkouts`` accepts (``request_problems`` and the rules it is made of: a 422 when
  refused), when a refund is refused;
- ``checkout``: what a checkout becomes when paid (``ProviderCheckout``) and the
  subscription a paid monthly one starts;
- ``machine``: the subscription machine (``renew``, ``fail``, ``recover``, ``cancel``,
  ``pause``, ``unpause``, ``unable_to_start``): which change the provider makes from which
  status, and which webhooks it sends about it (``Move``);
- ``payloads``: the webhook bodies in the provider's top-level shape (docs/payments.md:
  every field at the top level, no ``data`` envelope).

No I/O: times come in as arguments, ids are drawn with ``secrets``. Everything is
re-exported here: ``import webmagic_adapters.payments.provider_model as model``.
"""

from webmagic_adapters.payments.provider_model.checkout import ProviderCheckout, pay, started_subscription
from webmagic_adapters.payments.provider_model.machine import (
    BILLED,
    LIVE,
    Move,
    cancel,
    cancelled,
    fail,
    pause,
    recover,
    renew,
    unable_to_start,
    unpause,
)
from webmagic_adapters.payments.provider_model.payloads import (
    Customer,
    move_payloads,
    payment_payload,
    subscription_event_payload,
    subscription_payment_payload,
)
from webmagic_adapters.payments.provider_model.rules import (
    API_VERSION,
    CURRENCIES,
    HOSTING_PRODUCT,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    PAUSE_EVENTS,
    REACTIVATE,
    RETRY_AFTER,
    SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_CREATED,
    SUBSCRIPTION_PAST_DUE,
    SUBSCRIPTION_UNABLE_TO_START,
    UNPAUSE_EVENTS,
    Period,
    add_month,
    already_refunded,
    check_refund,
    first_period_end,
    item_problems,
    metadata_problems,
    new_id,
    request_problems,
    trial_from_wire,
    trial_problems,
    url_problems,
)

__all__ = [
    "API_VERSION",
    "BILLED",
    "CURRENCIES",
    "HOSTING_PRODUCT",
    "LIVE",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_KEY_LENGTH",
    "MAX_METADATA_VALUE_LENGTH",
    "PAUSE_EVENTS",
    "REACTIVATE",
    "RETRY_AFTER",
    "SUBSCRIPTION_CANCELLED",
    "SUBSCRIPTION_CREATED",
    "SUBSCRIPTION_PAST_DUE",
    "SUBSCRIPTION_UNABLE_TO_START",
    "UNPAUSE_EVENTS",
    "Customer",
    "Move",
    "Period",
    "ProviderCheckout",
    "add_month",
    "already_refunded",
    "cancel",
    "cancelled",
    "check_refund",
    "fail",
    "first_period_end",
    "item_problems",
    "metadata_problems",
    "move_payloads",
    "new_id",
    "pause",
    "pay",
    "payment_payload",
    "recover",
    "renew",
    "request_problems",
    "started_subscription",
    "subscription_event_payload",
    "subscription_payment_payload",
    "trial_from_wire",
    "trial_problems",
    "unable_to_start",
    "unpause",
    "url_problems",
]
