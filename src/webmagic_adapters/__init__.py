"""Adapters: the real implementations of the core's ports, settings, and the bootstrap."""
