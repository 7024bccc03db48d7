"""Payment adapters: Recurrente over HTTP (``recurrente``) and its webhooks read as the
core's events (``recurrente_events``), Svix webhook signatures, the provider as one pure
model (the ``provider_model`` package: its state, rules and payloads), and the imitations of
Recurrente built on it for tests, benchmarks and demos: the DB-backed sandbox (``sandbox``,
``sandbox_rows``, ``sandbox_delivery``) and the HTTP imitation (``imitation``,
``imitation_state``, ``imitation_wire``).

Nothing is imported here: the pure modules (``recurrente_events``, ``provider_model``) can be
imported without the HTTP client or the database."""
