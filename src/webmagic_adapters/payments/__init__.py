"""Payment adapters: Recurrente over HTTP, Svix webhook signatures, and an imitation of
Recurrente's API for tests, benchmarks and demos (``imitation``)."""

from webmagic_adapters.payments.recurrente import RecurrenteGateway
from webmagic_adapters.payments.svix import (
    InvalidWebhookSecret,
    SvixWebhookSigner,
    SvixWebhookVerifier,
    generate_secret,
)

__all__ = [
    "InvalidWebhookSecret",
    "RecurrenteGateway",
    "SvixWebhookSigner",
    "SvixWebhookVerifier",
    "generate_secret",
]
