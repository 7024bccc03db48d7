"""Payments: the gateway and webhook-verification ports, the provider-neutral models, and
the entities of a sale: purchases, received webhook events (with their parsed forms in
``events``) and anomalies."""
