"""``SmtpMailer``: hands messages to an SMTP server (blocking; the relay runs it in a thread).

URL forms (``WEBMAGIC_SMTP_URL``)::

    smtp://host[:port]                      plain, port 25 by default
    smtp://user:pass@host:587?starttls=true STARTTLS before login, port 587 by default
    smtps://user:pass@host[:port]           implicit TLS, port 465 by default

User name and password are percent-decoded. Failures become ``MailDeliveryError``:
4xx replies and connection trouble are transient, 5xx replies are permanent. No error
message or repr ever contains the password.
"""

from __future__ import annotations

import enum
import smtplib
import ssl
from urllib.parse import parse_qsl, unquote, urlsplit

from webmagic_adapters.mail.mime import sender_address, to_mime
from webmagic_core.accounts.emails import EmailMessage
from webmagic_core.accounts.errors import MailDeliveryError


class Security(enum.Enum):
    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


_DEFAULT_PORT = {Security.NONE: 25, Security.STARTTLS: 587, Security.SSL: 465}
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class SmtpUrlError(ValueError):
    """The SMTP URL is malformed; the message names the part, never the password."""


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        sender: str,
        security: Security = Security.NONE,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.security = security
        self.port = port or _DEFAULT_PORT[security]
        self.sender = sender
        self._envelope_from = sender_address(sender)
        self.username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context
        self.local_hostname = local_hostname

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        sender: str,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> SmtpMailer:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps"):
            raise SmtpUrlError(f"the SMTP URL must start with smtp:// or smtps://, not {parts.scheme!r}")
        if not parts.hostname:
            raise SmtpUrlError("the SMTP URL has no host name")
        try:
            port = parts.port
        except ValueError:
            raise SmtpUrlError("the SMTP URL has an invalid port") from None
        if parts.path not in ("", "/") or parts.fragment:
            raise SmtpUrlError("the SMTP URL must not have a path or fragment")
        security = Security.SSL if parts.scheme == "smtps" else Security.NONE
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key != "starttls":
                raise SmtpUrlError(f"the SMTP URL has an unknown parameter {key!r} (known: starttls)")
            if value.lower() not in _TRUE | _FALSE:
                raise SmtpUrlError("starttls in the SMTP URL must be true or false")
            if value.lower() in _TRUE:
                if security is Security.SSL:
                    raise SmtpUrlError("smtps:// already uses TLS; drop starttls=true or use smtp://")
                security = Security.STARTTLS
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if password is not None and username is None:
            raise SmtpUrlError("the SMTP URL has a password but no user name")
        return cls(
            parts.hostname,
            port,
            sender=sender,
            security=security,
            username=username,
            password=password,
            timeout=timeout,
            ssl_context=ssl_context,
            local_hostname=local_hostname,
        )

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"SmtpMailer({user}{self.host}:{self.port}, security={self.security.value})"

    def send(self, message: EmailMessage) -> None:
        mime = to_mime(message, sender=self.sender)
        # Serialised here rather than by smtplib's send_message, whose generator turns body
        # lines starting with "From " into ">From ".
        international = not (message.to.isascii() and self._envelope_from.isascii())
        raw = mime.as_bytes()
        options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
        where = f"{self.host}:{self.port}"
        try:
            client = self._connect()
        except smtplib.SMTPResponseException as exc:
            raise self._reply_error(
                f"SMTP server {where} refused the connection", exc.smtp_code, exc.smtp_error
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._other_error(f"could not connect to SMTP server {where}", exc) from None
        try:
            if self.security is Security.STARTTLS:
                client.starttls(context=self._context())
                client.ehlo()
            if self.username is not None:
                try:
                    client.login(self.username, self._password or "")
                except smtplib.SMTPResponseException as exc:
                    raise self._reply_error(
                        f"SMTP login as {self.username!r} at {where} failed", exc.smtp_code, exc.smtp_error
                    ) from None
            client.ehlo_or_helo_if_needed()
            if international and not client.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(f"the server does not accept the address {message.to}")
            client.sendmail(self._envelope_from, [message.to], raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (-1, b""))
            raise self._reply_error(
                f"SMTP server {where} refused {message.to}", code, reply, about_message=True
            ) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise self._reply_error(
                f"SMTP server {where} refused the message", exc.smtp_code, exc.smtp_error, about_message=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise self._reply_error(
                f"SMTP server {where} refused the message", exc.smtp_code, exc.smtp_error
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._other_error(f"sending to SMTP server {where} failed", exc) from None
        finally:
            _close(client)

    def _connect(self) -> smtplib.SMTP:
        if self.security is Security.SSL:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._context(),
            )
        return smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _clean(self, text: str) -> str:
        text = " ".join(text.split())
        if self._password:
            text = text.replace(self._password, "***")
        return text

    def _reply_error(
        self, what: str, code: int, reply: bytes | str, *, about_message: bool = False
    ) -> MailDeliveryError:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        # Only a 5xx refusal of this recipient or this message (550 no such user, 554
        # rejected as spam...) will be the same next time. A 5xx at the greeting or the
        # login (535 bad credentials) is the server's or our configuration's, and 4xx
        # (421, 451) is temporary: those are retried (for days) so an operator can fix it.
        transient = not (about_message and 500 <= code <= 599)
        return MailDeliveryError(self._clean(f"{what}: {code} {text}"), transient=transient)

    def _other_error(self, what: str, exc: BaseException) -> MailDeliveryError:
        # A missing STARTTLS/AUTH extension or an untrusted certificate is configuration:
        # retrying will not help. Everything else (refused, reset, timed out) may pass.
        permanent = isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLCertVerificationError)
        detail = str(exc) or type(exc).__name__
        return MailDeliveryError(self._clean(f"{what}: {detail}"), transient=not permanent)


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
