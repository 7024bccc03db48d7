"""``FolderMailer``: each message becomes an RFC 5322 ``.eml`` file (the embedded default)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from webmagic_adapters.mail.mime import sender_address, to_mime
from webmagic_adapters.private_files import private_dir
from webmagic_core.accounts.emails import EmailMessage
from webmagic_core.accounts.errors import MailDeliveryError

log = logging.getLogger(__name__)


class FolderMailer:
    """Writes ``<message id>.eml`` into ``path`` (created on first use).

    Each file appears whole or not at all (written to a temporary name, then renamed), and
    a retried message overwrites its own file. The log gets recipient and subject only:
    bodies carry sign-in links, so they stay in the files.
    """

    def __init__(self, path: Path, *, sender: str) -> None:
        sender_address(sender)
        self.path = Path(path)
        self.sender = sender
        self._ready = False

    def send(self, message: EmailMessage) -> None:
        data = to_mime(message, sender=self.sender).as_bytes()
        target = self.path / f"{message.id}.eml"
        tmp: str | None = None
        try:
            if not self._ready:
                private_dir(self.path)  # the files hold sign-in links (mkstemp makes them 0600)
                self._ready = True
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{message.id}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, target)
            tmp = None
        except OSError as exc:
            raise MailDeliveryError(
                f"could not write the mail to {target}: {exc.strerror or exc}", transient=True
            ) from None
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        log.info("mail to %s, subject %r: written to %s", message.to, message.subject, target)

    def __repr__(self) -> str:
        return f"FolderMailer({str(self.path)!r})"
