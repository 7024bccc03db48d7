"""Business events as structured log lines, on the ``webmagic.events`` logger.

Each is one INFO (or WARNING) record whose message reads as a sentence and whose
``extra`` fields carry ``event`` (a dotted name, e.g. ``purchase.paid``) and the ids it is
about (``site_id``, ``purchase_id``, ...). With ``WEBMAGIC_LOG_FORMAT=json`` every field is
a key of the line, so events are found by name and id instead of parsed out of prose.

Never pass a secret, token, password, or an email address: ids only. Events are logged
after the commit that makes them true (``uow.after_commit``) wherever there is one.
"""

from __future__ import annotations

import logging

log = logging.getLogger("webmagic.events")

# Names a LogRecord already uses: an ``extra`` field may not take them.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def emit(event: str, message: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Log business event ``event`` with ``message`` and ``fields`` (ids and states)."""
    clashes = _RESERVED & fields.keys()
    if clashes:
        raise ValueError(f"event fields may not be named {sorted(clashes)}")
    data = {
        key: str(value) if value is not None and not isinstance(value, int | bool) else value
        for key, value in fields.items()
    }
    log.log(level, message, extra={"event": event, **data})
