"""Payment adapters: Recurrente over HTTP (``recurrente``) and its webhooks read as the
core's events (``recurrente_events``), Svix webhook signatures, the provider as one pure
model (``provider_model``: its state, rules and payloads), and the imitations of Recurrente
built on it for tests, benchmarks and demos (``sandbox``, ``imitation``).

Nothing is imported here: the pure modules (``recurrente_events``, ``provider_model``) can be
imported without the HTTP client or the database."""
