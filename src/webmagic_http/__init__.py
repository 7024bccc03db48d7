"""HTTP: the Litestar app (hosting, health, the public API), built by ``create_app``."""
