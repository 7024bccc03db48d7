"""The Recurrente imitation itself, spoken to with raw HTTP: keys, validation as documented,
routes, scripting, the hosted page and signed webhook delivery."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from webmagic_adapters.payments.imitation import RecurrenteImitation
from webmagic_adapters.payments.imitation_wire import Fault
from webmagic_adapters.payments.svix import SvixWebhookVerifier, generate_secret
from webmagic_core.testing import FakeClock

ITEM = {"name": "Website", "currency": "USD", "amount_in_cents": 49500, "quantity": 1}
BODY = {
    "items": [ITEM],
    "success_url": "https://x.example/ok",
    "cancel_url": "https://x.example/no",
    "metadata": {},
}


@pytest.fixture
def imitation() -> Iterator[RecurrenteImitation]:
    with RecurrenteImitation(clock=FakeClock()) as running:
        yield running


@pytest.fixture
def client(imitation: RecurrenteImitation) -> Iterator[httpx.Client]:
    headers = {"X-PUBLIC-KEY": imitation.public_key, "X-SECRET-KEY": imitation.secret_key}
    with httpx.Client(base_url=imitation.api_base, headers=headers, timeout=5) as http:
        yield http


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-PUBLIC-KEY": "pk_test_imitation"},
        {"X-SECRET-KEY": "sk_test_imitation"},
        {"X-PUBLIC-KEY": "pk_test_imitation", "X-SECRET-KEY": "sk_x"},
    ],
)
def test_calls_without_both_keys_are_401(imitation: RecurrenteImitation, headers: dict[str, str]) -> None:
    response = httpx.get(imitation.api_base + "/test", headers=headers)
    assert response.status_code == 401
    assert "message" in response.json()
    assert len(imitation.requests) == 1


def test_the_greeting(client: httpx.Client) -> None:
    response = client.get("/test")
    assert (response.status_code, response.json()) == (200, {"message": "Hello WebMagic Imitation"})


def test_a_checkout_is_created_and_read_back(client: httpx.Client, imitation: RecurrenteImitation) -> None:
    created = client.post("/checkouts", json={**BODY, "metadata": {"site": "lupita"}})
    assert created.status_code == 201
    checkout_id = created.json()["id"]
    assert created.json()["checkout_url"] == f"{imitation.url}/checkout-session/{checkout_id}"
    read = client.get(f"/checkouts/{checkout_id}").json()
    assert read["status"] == "unpaid"
    assert (read["total_in_cents"], read["currency"], read["live_mode"]) == (49500, "USD", False)
    assert read["metadata"] == {"site": "lupita"}
    assert read["payment"] is None
    assert read["created_at"] == "2026-01-01T06:00:00.000-06:00"  # Guatemala's offset, like the provider
    assert client.post("/checkouts/", json=BODY).status_code == 201  # trailing slash too


def test_an_expiry_is_kept_to_the_millisecond_and_read_back_in_the_providers_offset(
    client: httpx.Client,
) -> None:
    # Sent in UTC with microseconds, as our gateway sends it; read back as the provider
    # writes times (milliseconds, Guatemala's -06:00), naming the same instant.
    created = client.post("/checkouts", json={**BODY, "expires_at": "2026-01-02T12:00:00.123456+00:00"})
    assert created.status_code == 201
    read = client.get(f"/checkouts/{created.json()['id']}").json()
    assert read["expires_at"] == "2026-01-02T06:00:00.123-06:00"
    assert dt.datetime.fromisoformat(read["expires_at"]) == dt.datetime(
        2026, 1, 2, 12, 0, 0, 123000, tzinfo=dt.UTC
    )
    without = client.post("/checkouts", json=BODY).json()
    assert client.get(f"/checkouts/{without['id']}").json()["expires_at"] is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"items": []}, "items can't be empty"),
        ({"items": [{**ITEM, "currency": "EUR"}]}, "currency"),
        ({"items": [{**ITEM, "amount_in_cents": 0}]}, "amount_in_cents"),
        ({"items": [{**ITEM, "amount_in_cents": "49500"}]}, "amount_in_cents"),
        ({"items": [{**ITEM, "name": ""}]}, "name"),
        ({"items": [{**ITEM, "quantity": 0}]}, "quantity"),
        ({"items": [{**ITEM, "charge_type": "recurring"}]}, "billing_interval"),
        ({"items": [{**ITEM, "charge_type": "sometimes"}]}, "charge_type"),
        ({"items": [ITEM, {**ITEM, "currency": "GTQ"}]}, "same currency"),
        ({"success_url": "/relative"}, "success_url"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "50 keys"),
        ({"metadata": {"k" * 41: "v"}}, "40 characters"),
        ({"metadata": {"": "v"}}, "1-40 characters"),
        ({"metadata": {"k": "v" * 501}}, "500 characters"),
        ({"metadata": {"k": 1}}, "must be a string"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": 1700000000}, "expires_at"),
    ],
)
def test_bad_checkout_bodies_are_422(
    client: httpx.Client, imitation: RecurrenteImitation, change: dict[str, Any], problem: str
) -> None:
    response = client.post("/checkouts", json={**BODY, **change})
    assert response.status_code == 422
    body = response.json()
    assert problem in body["message"]
    assert body["message"] in body["errors"]
    assert imitation.checkouts == {}


def test_a_body_that_is_not_json_is_400(client: httpx.Client) -> None:
    response = client.post("/checkouts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("PUT", "/checkouts"),
        ("GET", "/checkouts/ch_nope"),
        ("PATCH", "/subscriptions/su_1"),
    ],
)
def test_unknown_routes_and_records_are_404(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 404
    assert "message" in response.json()


def test_paying_a_monthly_checkout_makes_a_subscription(
    client: httpx.Client, imitation: RecurrenteImitation
) -> None:
    item = {
        **ITEM,
        "amount_in_cents": 9500,
        "charge_type": "recurring",
        "billing_interval": "month",
        "billing_interval_count": 1,
    }
    checkout_id = client.post("/checkouts", json={**BODY, "items": [item]}).json()["id"]
    paid = imitation.mark_paid(checkout_id, payment_id="pa_given")
    payment = client.get(f"/checkouts/{checkout_id}").json()["payment"]
    assert payment == {"id": "pa_given", "paymentable": {"type": "Subscription", "id": paid.paymentable_id}}
    subscription = client.get(f"/subscriptions/{paid.paymentable_id}").json()
    assert subscription["status"] == "active"
    assert subscription["checkout"] == {"id": checkout_id}
    assert subscription["current_period_start"] == "2026-01-01T06:00:00.000-06:00"
    assert subscription["current_period_end"] == "2026-02-01T06:00:00.000-06:00"
    assert client.delete(f"/subscriptions/{paid.paymentable_id}").json() == {
        "message": "Subscription cancelled"
    }
    assert client.get(f"/subscriptions/{paid.paymentable_id}").json()["status"] == "cancelled"
    assert client.delete(f"/subscriptions/{paid.paymentable_id}").status_code == 422


def test_refunds(client: httpx.Client, imitation: RecurrenteImitation) -> None:
    checkout_id = client.post("/checkouts", json=BODY).json()["id"]
    payment_id = str(imitation.mark_paid(checkout_id).payment_id)
    assert client.post("/refunds", json={}).status_code == 422
    assert client.post("/refunds", json={"payment_intent_id": "pa_unknown"}).status_code == 404
    refund = client.post("/refunds", json={"payment_intent_id": payment_id})
    assert refund.status_code == 201
    assert refund.json()["amount_in_cents"] == 49500
    assert client.post("/refunds", json={"payment_intent_id": payment_id}).status_code == 422
    assert [r.payment_intent_id for r in imitation.refunds] == [payment_id]


def test_faults_match_method_and_path_and_run_out(
    client: httpx.Client, imitation: RecurrenteImitation
) -> None:
    imitation.inject(Fault.error(503), method="POST", path="/refunds", times=2)
    assert client.get("/test").status_code == 200
    assert client.post("/checkouts", json=BODY).status_code == 201
    assert client.post("/refunds", json={}).status_code == 503
    assert client.post("/refunds", json={}).status_code == 503
    assert client.post("/refunds", json={}).status_code == 422
    assert [r.route for r in imitation.requests] == [
        "/test",
        "/checkouts",
        "/refunds",
        "/refunds",
        "/refunds",
    ]
    assert imitation.requests[1].json == BODY


def test_a_malformed_fault_answers_broken_json(client: httpx.Client, imitation: RecurrenteImitation) -> None:
    imitation.inject(Fault.malformed_json())
    response = client.get("/test")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


class _Capture(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_hosted_page_pays_and_delivers_a_signed_webhook() -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Capture", (_Capture,), {"received": received})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    secret = generate_secret()
    try:
        hook = f"http://127.0.0.1:{receiver.server_address[1]}/api/v1/webhooks/recurrente"
        with RecurrenteImitation(webhook_url=hook, webhook_secret=secret) as imitation:
            headers = {"X-PUBLIC-KEY": imitation.public_key, "X-SECRET-KEY": imitation.secret_key}
            created = httpx.post(imitation.api_base + "/checkouts", json=BODY, headers=headers).json()
            page = httpx.get(created["checkout_url"])
            assert page.status_code == 200
            assert "Pay" in page.text
            paid = httpx.post(created["checkout_url"] + "/pay")
            assert paid.status_code == 303
            assert paid.headers["location"] == "https://x.example/ok"
            assert imitation.checkout(created["id"]).status == "paid"
    finally:
        receiver.shutdown()
        receiver.server_close()
    ((sent_headers, body),) = received
    verifier = SvixWebhookVerifier(secret, clock=FakeClock(dt.datetime.now(dt.UTC)))
    verified = verifier.verify(sent_headers, body)
    event = json.loads(verified.body)
    assert event["event_type"] == "payment_intent.succeeded"
    assert event["checkout"]["id"] == created["id"]
    assert event["checkout"]["status"] == "paid"
    assert event["payment"]["paymentable"]["type"] == "OneTimePayment"
    assert (event["amount_in_cents"], event["currency"]) == (49500, "USD")


def test_stop_is_prompt_even_with_a_slow_response_pending(imitation: RecurrenteImitation) -> None:
    imitation.inject(Fault.slow(30))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(imitation.api_base + "/test", timeout=0.2)
    started = dt.datetime.now(dt.UTC)
    imitation.stop()
    assert dt.datetime.now(dt.UTC) - started < dt.timedelta(seconds=2)
