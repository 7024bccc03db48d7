"""Mail adapters: SMTP and folder mailers, the Jinja renderer, and the one MIME builder."""
