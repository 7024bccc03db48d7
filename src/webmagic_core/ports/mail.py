"""Mail: rendering a template into a message, and handing a message to the mail system."""

from __future__ import annotations

from webmagic_core.accounts.ports import EmailRenderer, Mailer

__all__ = ["EmailRenderer", "Mailer"]
