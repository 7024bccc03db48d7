"""Custom domains (phase 5): the domain entity and its proof-of-control lifecycle, the
ports it needs (DNS, TLS probe, storage) and what hosting asks of it."""
