"""Edit engines: ``manual`` (operators draft at the CLI) and ``openai`` (any
OpenAI-compatible chat-completions server)."""
