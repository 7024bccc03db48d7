"""Payments: the gateway and webhook-verification ports, the provider-neutral models, the
payment events a provider's webhooks are read as (``events``), and the entities of a sale:
purchases, received webhook events and anomalies."""
