"""Two ``webmagic serve`` processes on one PostgreSQL database, plus a separate ``webmagic
outbox relay`` sending to an SMTP server the test runs: concurrent purchases paid in the
sandbox, every webhook delivered again to both instances at once (duplicates), logins,
edit requests. Every purchase is processed once, every email sent once, no answer is a
5xx, and a change made through one instance is what the other serves on its next request.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from email import message_from_bytes
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from webmagic_adapters.payments.svix import SvixWebhookSigner

pytestmark = pytest.mark.postgres

SECRET_KEY = "multi-instance-test-secret-key-of-more-than-32-bytes"
PASSWORD = "a long owner password 42"
PREVIEWS = [f"bakery-{n}" for n in range(6)]
OWNED = "corner-cafe"
OWNER = "owner@example.com"
WEBHOOK = "/api/v1/webhooks/recurrente"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class Sink:
    """An SMTP server keeping every message it accepts."""

    messages: list[bytes] = attrs.field(factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(bytes(envelope.original_content or b""))
        return "250 OK"


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} was not ready within 60 s")


def prepare(env: dict[str, str]) -> None:
    """The schema, six previews and one site already bought by an owner with a password."""
    script = f"""
import os
os.environ.update({json.dumps({k: v for k, v in env.items() if k.startswith("WEBMAGIC_")})})
from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.accounts.customers import Customer
from webmagic_core.sites import Actor, SiteContent
c = bootstrap(load_settings())
c.database.upgrade()
page = "<!doctype html><html><body><h1>{{}}</h1></body></html>"
for slug in {[*PREVIEWS, OWNED]!r}:
    c.sites.create_preview(slug, slug.replace("-", " ").title(), SiteContent(page.format(slug)))
now = c.clock.now()
owner = Customer.new(email={OWNER!r}, now=now, password_hash=c.hasher.hash({PASSWORD!r}), verified=True)
with c.database.unit_of_work() as u:
    u.customers.add(owner)
    site = u.sites.get_by_slug({OWNED!r}, for_update=True)
    site.sell(owner.id, cause="test", actor=Actor.SYSTEM, at=now)
    u.sites.save(site)
    u.commit()
c.close()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def webmagic(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("webmagic")), *args]


def test_two_instances_and_a_relay_on_one_postgresql(postgres_url: str, tmp_path: Path) -> None:
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBMAGIC_")}
    env.update(
        {
            "WEBMAGIC_DATABASE_URL": postgres_url,
            "WEBMAGIC_DATA_DIR": str(tmp_path / "data"),
            "WEBMAGIC_SECRET_KEY": SECRET_KEY,
            "WEBMAGIC_PUBLIC_URL": urls[0],  # where the sandbox delivers its webhooks
            "WEBMAGIC_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "WEBMAGIC_BCRYPT_ROUNDS": "4",
            "WEBMAGIC_EDITS_PER_MONTH": "100",
            "WEBMAGIC_OUTBOX_INTERVAL_SECONDS": "0",  # only the relay process sends
            "WEBMAGIC_DOMAIN_CHECK_INTERVAL_SECONDS": "0",
            "WEBMAGIC_LOG_LEVEL": "warning",
        }
    )
    (tmp_path / "data").mkdir()
    prepare(env)
    statuses: list[int] = []
    try:
        with ExitStack() as stack:
            for port, url in zip(ports, urls, strict=True):
                log = tmp_path / f"serve-{port}.log"
                proc = stack.enter_context(
                    process(webmagic("serve", "--host", "127.0.0.1", "--port", str(port)), env, log)
                )
                wait_ready(url, proc, log)
            stack.enter_context(
                process(webmagic("outbox", "relay", "--interval", "0.2"), env, tmp_path / "relay.log")
            )
            clients = [stack.enter_context(httpx.Client(base_url=url, timeout=30)) for url in urls]

            def seen(response: httpx.Response) -> httpx.Response:
                statuses.append(response.status_code)
                return response

            def buy(index: int) -> str:
                # Each buyer has a browser of their own (its cookies: the sandbox form's CSRF) and
                # an address of their own, as the proxy in front of the instances says.
                browser = {
                    "base_url": "",
                    "timeout": 30,
                    "headers": {"X-Forwarded-For": f"198.51.100.{index + 1}"},
                }
                here = stack.enter_context(httpx.Client(**{**browser, "base_url": urls[index % 2]}))
                there = stack.enter_context(httpx.Client(**{**browser, "base_url": urls[(index + 1) % 2]}))
                slug = PREVIEWS[index]
                started = seen(
                    here.post(f"/api/v1/sites/{slug}/purchase", json={"email": f"buyer{index}@example.com"})
                )
                assert started.status_code == 201, started.text
                checkout = started.json()["checkout_id"]
                page = seen(there.get(f"/sandbox/checkout/{checkout}"))
                token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
                assert token, page.text[:500]
                paid = seen(
                    there.post(
                        f"/sandbox/checkout/{checkout}/pay",
                        data={"_csrf_token": token[1]},
                        follow_redirects=False,
                    )
                )
                assert paid.status_code == 303, paid.text[:500]
                return slug

            def login(index: int) -> str:
                response = seen(
                    clients[index % 2].post(
                        "/api/v1/customer/login", json={"email": OWNER, "password": PASSWORD}
                    )
                )
                assert response.status_code == 200, response.text
                return str(response.json()["access_token"])

            with ThreadPoolExecutor(max_workers=8) as pool:
                bought = list(pool.map(buy, range(len(PREVIEWS))))
                tokens = list(pool.map(login, range(6)))
                asked = list(
                    pool.map(
                        lambda i: seen(
                            clients[i % 2].post(
                                f"/api/v1/customer/sites/{OWNED}/edits",
                                json={"instructions": f"Change {i}"},
                                headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                            )
                        ),
                        range(6),
                    )
                )
            assert sorted(bought) == sorted(PREVIEWS)
            assert all(r.status_code == 202 for r in asked)

            # Every webhook the sandbox delivered, delivered again to both instances at once.
            listed = subprocess.run(
                webmagic("webhooks", "list", "--json"), env=env, capture_output=True, text=True, check=True
            )
            events = json.loads(listed.stdout)
            assert len(events) >= len(PREVIEWS)
            signer = SvixWebhookSigner((tmp_path / "data" / "sandbox_webhook_secret").read_text().strip())

            def redeliver(event: dict[str, Any]) -> list[int]:
                shown = subprocess.run(
                    webmagic("webhooks", "show", event["id"], "--json"),
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                body = json.dumps(json.loads(shown.stdout)["body"]).encode()
                headers = {
                    **signer.sign(event["id"], dt.datetime.now(dt.UTC), body),
                    "content-type": "application/json",
                }
                with ThreadPoolExecutor(max_workers=2) as both:
                    answers = list(
                        both.map(lambda c: seen(c.post(WEBHOOK, content=body, headers=headers)), clients)
                    )
                return [a.status_code for a in answers]

            with ThreadPoolExecutor(max_workers=4) as pool:
                for codes in pool.map(redeliver, events):
                    assert codes == [200, 200]

            # A change through one instance is served by the other on its next request.
            before = seen(clients[1].get(f"/{OWNED}")).text
            republished = subprocess.run(
                webmagic("sites", "publish", OWNED, "--html", str(write(tmp_path, "<h1>New menu</h1>"))),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert republished.returncode == 0, republished.stderr
            assert "New menu" not in before
            assert "New menu" in seen(clients[1].get(f"/{OWNED}")).text
            restored = seen(
                clients[0].post(
                    f"/api/v1/customer/sites/{OWNED}/versions/1/restore",
                    headers={"Authorization": f"Bearer {tokens[0]}"},
                )
            )
            assert restored.status_code == 201, restored.text
            assert "New menu" not in seen(clients[1].get(f"/{OWNED}")).text

            # Wait for the relay to send everything queued.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pending = subprocess.run(
                    webmagic("outbox", "list", "--json", "--status", "pending"),
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                if json.loads(pending.stdout) == []:
                    break
                time.sleep(0.5)
            else:
                raise AssertionError("the relay did not send every queued email within 60 s")

            purchases = subprocess.run(
                webmagic("payments", "list", "--json"), env=env, capture_output=True, text=True, check=True
            )
            rows = json.loads(purchases.stdout)
    finally:
        controller.stop()

    assert all(code < 500 for code in statuses), Counter(statuses)
    paid = [row for row in rows if row["status"] == "paid"]
    assert sorted(row["site_slug"] for row in paid) == sorted(PREVIEWS)  # each once
    ids = [message_from_bytes(raw)["Message-ID"] for raw in sink.messages]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)  # no email sent twice
    subjects = Counter(str(message_from_bytes(raw)["Subject"]) for raw in sink.messages)
    welcome = sum(count for subject, count in subjects.items() if subject.startswith("Welcome"))
    assert welcome == len(PREVIEWS), subjects


def write(folder: Path, html: str) -> Path:
    path = folder / "page.html"
    path.write_text(html, encoding="utf-8")
    return path
