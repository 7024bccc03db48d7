"""One contract for every ``Mailer``: the fake, the folder of .eml files, and SMTP against a
real SMTP server (aiosmtpd) started here on a free local port."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from webmagic_adapters.mail.folder import FolderMailer
from webmagic_adapters.mail.smtp import Security, SmtpMailer, SmtpUrlError
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.accounts.errors import MailDeliveryError
from webmagic_core.accounts.ports import Mailer
from webmagic_core.testing.accounts import FakeMailer

SENDER = "WebMagic <no-reply@webmagic.example>"
USER, PASSWORD = "mailer", "s3cret p@ss:word/?#"


def message(
    to: str = "rosa@example.com",
    subject: str = "Confirm your email address",
    text: str = "Hello,\n\nhttps://webmagic.example/verify?token=abc\n",
    html: str = '<p>Hello,</p><p><a href="https://webmagic.example/verify?token=abc">Confirm</a></p>',
    **extra: Any,
) -> EmailMessage:
    return EmailMessage(
        id=uuid.uuid4(),
        to=to,
        subject=subject,
        text=text,
        html=html,
        template=EmailTemplate.VERIFY_EMAIL,
        **extra,
    )


@attrs.frozen
class Delivered:
    to: str
    subject: str
    text: str
    html: str
    mime: MimeMessage | None  # None for the fake, which hands over the core message itself


def parse(raw: bytes) -> Delivered:
    mime = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mime, MimeMessage)
    text, html = mime.get_body(("plain",)), mime.get_body(("html",))
    assert text is not None
    assert html is not None
    # Line ends are CRLF on the wire; compare text as Python writes it.
    text_body, html_body = (str(part.get_content()).replace("\r\n", "\n") for part in (text, html))
    return Delivered(str(mime["To"]), str(mime["Subject"]), text_body, html_body, mime)


# --- a real SMTP server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class Handler:
    """Records what arrives; ``rcpt_reply`` / ``data_reply`` make the server refuse."""

    envelopes: list[Envelope] = attrs.field(factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def delivered(self) -> list[Delivered]:
        return [parse(bytes(e.original_content or b"")) for e in self.envelopes]


def check_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@attrs.define
class SmtpServer:
    handler: Handler
    port: int


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SmtpServer]]:
    controllers: list[Controller] = []

    def start(**options: Any) -> SmtpServer:
        handler, port = Handler(), free_port()
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, server_hostname="mx.test", **options
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer(handler, port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(smtp_server_factory: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_server_factory()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def smtp_mailer(
    port: int, query: str = "", *, scheme: str = "smtp", userinfo: str = "", **options: Any
) -> SmtpMailer:
    url = f"{scheme}://{userinfo}127.0.0.1:{port}{query}"
    return SmtpMailer.from_url(url, sender=SENDER, timeout=5, local_hostname="client.test", **options)


# --- one harness per mailer ----------------------------------------------------------------


@attrs.define
class Harness:
    mailer: Mailer
    delivered: Callable[[], list[Delivered]]


def folder_delivered(path: Path) -> Callable[[], list[Delivered]]:
    def read() -> list[Delivered]:
        files = sorted(path.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        return [parse(file.read_bytes()) for file in files]

    return read


def fake_delivered(fake: FakeMailer) -> Callable[[], list[Delivered]]:
    return lambda: [Delivered(m.to, m.subject, m.text, m.html, None) for m in fake.sent]


def build_harness(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if kind == "fake":
        fake = FakeMailer()
        return Harness(fake, fake_delivered(fake))
    if kind == "folder":
        return Harness(FolderMailer(tmp_path / "mail", sender=SENDER), folder_delivered(tmp_path / "mail"))
    server: SmtpServer = request.getfixturevalue("smtp_server")
    return Harness(smtp_mailer(server.port), server.handler.delivered)


@pytest.fixture(params=["fake", "folder", "smtp"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return build_harness(request.param, request, tmp_path)


@pytest.fixture(params=["folder", "smtp"])
def mime_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    """The mailers that produce MIME (the fake records the core message itself)."""
    return build_harness(request.param, request, tmp_path)


# --- the contract ------------------------------------------------------------------------


def test_delivers_what_it_was_given(harness: Harness) -> None:
    sent = message(
        to="rosa@example.com",
        subject="Ihr Konto bei WebMagic — bestätigen ✓",
        text="Grüße aus Zürich 🍫\n\nhttps://webmagic.example/verify?token=abc\n",
        html="<p>Grüße aus Zürich 🍫</p>",
    )
    harness.mailer.send(sent)
    [got] = harness.delivered()
    assert (got.to, got.subject) == (sent.to, sent.subject)
    assert got.text == sent.text
    assert got.html.rstrip("\n") == sent.html


def test_delivers_to_an_international_address(harness: Harness) -> None:
    harness.mailer.send(message(to="josé@bäckerei.example", subject="Grüße"))
    [got] = harness.delivered()
    assert (got.to, got.subject) == ("josé@bäckerei.example", "Grüße")


def test_delivers_each_message_once_in_order(harness: Harness) -> None:
    sent = [message(to=f"owner{i}@example.com", subject=f"Message {i}") for i in range(3)]
    for item in sent:
        harness.mailer.send(item)
    assert [(d.to, d.subject) for d in harness.delivered()] == [(m.to, m.subject) for m in sent]


def test_awkward_bodies_survive(harness: Harness) -> None:
    text = "line one\n.\n..two dots\nFrom the top\n" + "x" * 2000 + "\ntrailing space \n"
    html = "<p>" + "y" * 3000 + "</p>\n.\n"
    harness.mailer.send(message(text=text, html=html))
    [got] = harness.delivered()
    assert got.text == text
    assert got.html.rstrip("\n") == html.rstrip("\n")


def test_mime_is_multipart_alternative_text_first(mime_harness: Harness) -> None:
    sent = message(headers={"List-Unsubscribe": "<https://webmagic.example/unsubscribe>"})
    mime_harness.mailer.send(sent)
    [got] = mime_harness.delivered()
    mime = got.mime
    assert mime is not None
    assert mime.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mime.iter_parts()] == ["text/plain", "text/html"]
    assert mime["From"] == SENDER
    assert mime["Message-ID"] == f"<{sent.id}@webmagic.example>"
    assert mime["X-WebMagic-Template"] == "verify_email"
    assert mime["List-Unsubscribe"] == "<https://webmagic.example/unsubscribe>"
    assert mime["Date"] is not None
    raw = mime.as_bytes()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")), "no line longer than RFC 5322 allows"


def test_a_failed_send_delivers_nothing_and_the_mailer_recovers(harness: Harness, tmp_path: Path) -> None:
    """Each mailer fails in its own way; all report MailDeliveryError and keep working."""
    first, second = message(subject="first"), message(subject="second")
    if isinstance(harness.mailer, FakeMailer):
        harness.mailer.fail_next(1, transient=True)
        broken: Mailer = harness.mailer
    elif isinstance(harness.mailer, FolderMailer):
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the folder should be")
        broken = FolderMailer(blocker / "mail", sender=SENDER)
    else:
        broken = smtp_mailer(free_port())  # nothing listens there
    with pytest.raises(MailDeliveryError) as caught:
        broken.send(first)
    assert caught.value.transient
    assert harness.delivered() == []
    harness.mailer.send(second)
    assert [d.subject for d in harness.delivered()] == ["second"]


# --- the fake ------------------------------------------------------------------------------


def test_fake_fails_as_told_then_delivers() -> None:
    fake = FakeMailer()
    fake.fail_next(2, transient=True)
    fake.fail_next(1, transient=False)
    outcomes = []
    for _ in range(3):
        with pytest.raises(MailDeliveryError) as caught:
            fake.send(message())
        outcomes.append(caught.value.transient)
    assert outcomes == [True, True, False]
    fake.send(message(to="ok@example.com"))
    assert [m.to for m in fake.sent] == ["ok@example.com"]
    assert fake.attempts == 4
    assert fake.to("ok@example.com") == fake.sent


# --- folder --------------------------------------------------------------------------------


def test_folder_writes_one_named_file_atomically_and_logs_no_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "mail"
    mailer = FolderMailer(folder, sender=SENDER)
    sent = message(text="https://webmagic.example/reset?token=SECRET-TOKEN\n", html="<a>SECRET-TOKEN</a>")
    with caplog.at_level(logging.INFO, logger="webmagic_adapters.mail.folder"):
        mailer.send(sent)
        mailer.send(sent)  # a retry overwrites its own file
    assert [p.name for p in folder.iterdir()] == [f"{sent.id}.eml"], "no temporary files left behind"
    assert len(caplog.records) == 2
    line = caplog.records[0].getMessage()
    assert sent.to in line
    assert sent.subject in line
    assert "SECRET-TOKEN" not in caplog.text
    assert (folder / f"{sent.id}.eml").read_bytes().count(b"\r\n") > 5, "RFC 5322 line ends"


def test_folder_sender_with_a_non_ascii_name(tmp_path: Path) -> None:
    sender = "Bäckerei Rosa <no-reply@webmagic.example>"
    FolderMailer(tmp_path, sender=sender).send(message())
    [got] = folder_delivered(tmp_path)()
    assert got.mime is not None
    assert got.mime["From"] == sender
    [file] = tmp_path.glob("*.eml")
    assert file.read_bytes().isascii(), "the name is RFC 2047-encoded; no SMTPUTF8 needed"


def test_folder_refuses_a_bad_sender() -> None:
    with pytest.raises(ValueError, match="sender"):
        FolderMailer(Path("unused"), sender="nobody")


# --- SMTP ----------------------------------------------------------------------------------


def test_smtp_envelope_uses_the_bare_addresses(smtp_server: SmtpServer) -> None:
    smtp_mailer(smtp_server.port).send(message(to="rosa@example.com"))
    [envelope] = smtp_server.handler.envelopes
    assert envelope.mail_from == "no-reply@webmagic.example"
    assert envelope.rcpt_tos == ["rosa@example.com"]


@pytest.mark.parametrize(
    ("stage", "reply", "transient"),
    [
        ("rcpt_reply", "450 4.2.1 Mailbox busy, try later", True),
        ("rcpt_reply", "550 5.1.1 No such user here", False),
        ("data_reply", "451 4.3.0 Local problem, try again later", True),
        ("data_reply", "554 5.7.1 Message rejected as spam", False),
    ],
)
def test_smtp_replies_decide_transient_or_permanent(
    smtp_server: SmtpServer, stage: str, reply: str, transient: bool
) -> None:
    setattr(smtp_server.handler, stage, reply)
    with pytest.raises(MailDeliveryError) as caught:
        smtp_mailer(smtp_server.port).send(message())
    assert caught.value.transient is transient
    code, _, text = reply.partition(" ")
    assert code in caught.value.detail
    assert text in caught.value.detail
    assert smtp_server.handler.envelopes == []


def test_smtp_silent_server_times_out_as_transient() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        held: list[socket.socket] = []
        accepter = threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True)
        accepter.start()
        mailer = SmtpMailer.from_url(
            f"smtp://127.0.0.1:{port}", sender=SENDER, timeout=0.3, local_hostname="c"
        )
        with pytest.raises(MailDeliveryError) as caught:
            mailer.send(message())
        accepter.join(1)
        for conn in held:
            conn.close()
    assert caught.value.transient


AUTH_WITHOUT_TLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@AUTH_WITHOUT_TLS
def test_smtp_login(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_server_factory(authenticator=check_login, auth_required=True, auth_require_tls=False)
    userinfo = f"{USER}:{quote(PASSWORD, safe='')}@"
    smtp_mailer(server.port, userinfo=userinfo).send(message())
    assert len(server.handler.envelopes) == 1


@AUTH_WITHOUT_TLS
def test_smtp_wrong_password_is_retried_and_never_shown(
    smtp_server_factory: Callable[..., SmtpServer],
) -> None:
    # 535 is not the recipient's fault: the message waits (for days) until the password is fixed.
    server = smtp_server_factory(authenticator=check_login, auth_required=True, auth_require_tls=False)
    wrong = "wr0ng-Passw0rd!"
    mailer = smtp_mailer(server.port, userinfo=f"{USER}:{wrong}@")
    with pytest.raises(MailDeliveryError) as caught:
        mailer.send(message())
    assert caught.value.transient
    assert "535" in caught.value.detail
    assert USER in caught.value.detail
    assert wrong not in str(caught.value)
    assert wrong not in repr(mailer)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert server.handler.envelopes == []


@AUTH_WITHOUT_TLS
def test_smtp_without_credentials_on_a_server_that_requires_them(
    smtp_server_factory: Callable[..., SmtpServer],
) -> None:
    server = smtp_server_factory(authenticator=check_login, auth_required=True, auth_require_tls=False)
    with pytest.raises(MailDeliveryError) as caught:
        smtp_mailer(server.port).send(message())
    assert not caught.value.transient
    assert "530" in caught.value.detail


def test_smtp_starttls_then_login(
    smtp_server_factory: Callable[..., SmtpServer], server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = smtp_server_factory(
        tls_context=server_tls, require_starttls=True, authenticator=check_login, auth_required=True
    )
    mailer = smtp_mailer(
        server.port, "?starttls=true", userinfo=f"{USER}:{quote(PASSWORD, safe='')}@", ssl_context=client_tls
    )
    assert mailer.security is Security.STARTTLS
    mailer.send(message())
    assert len(server.handler.envelopes) == 1


def test_smtp_plain_client_refused_by_a_server_requiring_starttls(
    smtp_server_factory: Callable[..., SmtpServer], server_tls: ssl.SSLContext
) -> None:
    server = smtp_server_factory(tls_context=server_tls, require_starttls=True)
    with pytest.raises(MailDeliveryError) as caught:
        smtp_mailer(server.port).send(message())
    assert not caught.value.transient
    assert "STARTTLS" in caught.value.detail


def test_smtp_untrusted_certificate_is_permanent(
    smtp_server_factory: Callable[..., SmtpServer], server_tls: ssl.SSLContext
) -> None:
    server = smtp_server_factory(tls_context=server_tls, require_starttls=True)
    with pytest.raises(MailDeliveryError) as caught:
        smtp_mailer(server.port, "?starttls=true").send(message())  # default trust store
    assert not caught.value.transient
    assert "certificate" in caught.value.detail.lower()


def test_smtp_starttls_on_a_server_without_it_is_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(MailDeliveryError) as caught:
        smtp_mailer(smtp_server.port, "?starttls=true").send(message())
    assert not caught.value.transient


def test_smtps_implicit_tls(
    smtp_server_factory: Callable[..., SmtpServer], server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = smtp_server_factory(ssl_context=server_tls)
    mailer = smtp_mailer(server.port, scheme="smtps", ssl_context=client_tls)
    assert mailer.security is Security.SSL
    mailer.send(message())
    assert len(server.handler.envelopes) == 1


# --- SMTP URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "security", "user", "password"),
    [
        ("smtp://mail.example", "mail.example", 25, Security.NONE, None, None),
        ("smtp://mail.example?starttls=true", "mail.example", 587, Security.STARTTLS, None, None),
        ("smtp://mail.example:2525?starttls=false", "mail.example", 2525, Security.NONE, None, None),
        ("smtps://u:p@mail.example", "mail.example", 465, Security.SSL, "u", "p"),
        ("smtp://a%40b.example:p%3Aw%2Fd@mail.example:587?starttls=1", "mail.example", 587, Security.STARTTLS,
         "a@b.example", "p:w/d"),
        ("smtp://apikey:@mail.example", "mail.example", 25, Security.NONE, "apikey", ""),
    ],
)  # fmt: skip
def test_smtp_url_parsing(
    url: str, host: str, port: int, security: Security, user: str | None, password: str | None
) -> None:
    mailer = SmtpMailer.from_url(url, sender=SENDER)
    assert (mailer.host, mailer.port, mailer.security, mailer.username) == (host, port, security, user)
    assert mailer._password == password


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hunter2@mail.example", "smtp:// or smtps://"),
        ("smtp://:hunter2@", "no host name"),
        ("smtp://u:hunter2@mail.example:port", "invalid port"),
        ("smtp://u:hunter2@mail.example/path", "path"),
        ("smtp://u:hunter2@mail.example?tls=yes", "unknown parameter 'tls'"),
        ("smtp://u:hunter2@mail.example?starttls=maybe", "true or false"),
        ("smtps://u:hunter2@mail.example?starttls=true", "already uses TLS"),
        ("smtp://:hunter2@mail.example", "no user name"),
    ],
)
def test_smtp_url_errors_name_the_problem_not_the_password(url: str, problem: str) -> None:
    with pytest.raises(SmtpUrlError, match=problem) as caught:
        SmtpMailer.from_url(url, sender=SENDER)
    assert "hunter2" not in str(caught.value)


def test_smtp_repr_hides_the_password() -> None:
    mailer = SmtpMailer.from_url("smtps://user:hunter2@mail.example", sender=SENDER)
    assert "hunter2" not in repr(mailer)
    assert repr(mailer) == "SmtpMailer(user@mail.example:465, security=ssl)"


def test_smtp_error_text_never_echoes_the_password(smtp_server: SmtpServer) -> None:
    secret = "echoed-secret-42"
    smtp_server.handler.data_reply = f"554 5.7.1 rejected, we saw {secret}"
    server_mailer = SmtpMailer(
        "127.0.0.1", smtp_server.port, sender=SENDER, username=None, password=secret, local_hostname="c"
    )
    with pytest.raises(MailDeliveryError) as caught:
        server_mailer.send(message())
    assert secret not in caught.value.detail
    assert "***" in caught.value.detail
