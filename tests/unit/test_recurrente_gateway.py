"""RecurrenteGateway over an in-process httpx transport: error mapping, retries, secret hygiene.

The contract suite (tests/contract/test_payment_gateway.py) drives it against the imitation
server over real sockets; this file covers what a real server cannot easily produce.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from webmagic_adapters.payments.recurrente import RecurrenteGateway
from webmagic_core.errors import TransientError, WebMagicError
from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    CheckoutKind,
    CheckoutRequest,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
)

PUBLIC = "pk_test_0123456789abcdef"
SECRET = "sk_test_fedcba9876543210"
BASE = "https://recurrente.invalid/api"
CHECKOUT = {"id": "ch_1", "status": "unpaid", "total_in_cents": 49500, "currency": "USD", "metadata": {}}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)


def gateway(recorder: Recorder, sleeps: list[float] | None = None, **options: Any) -> RecurrenteGateway:
    sleeps = [] if sleeps is None else sleeps
    return RecurrenteGateway(
        BASE, PUBLIC, SECRET, transport=httpx.MockTransport(recorder), sleep=sleeps.append, **options
    )


def checkout_request() -> CheckoutRequest:
    return CheckoutRequest(
        kind=CheckoutKind.ONE_TIME,
        item_name="Website",
        amount=Money(49500, "USD"),
        success_url="https://webmagic.example/thanks",
        cancel_url="https://webmagic.example/cancelled",
    )


def assert_no_secret(error: BaseException) -> None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for text in (str(current), repr(current), repr(vars(current))):
            assert SECRET not in text
        assert not isinstance(current, httpx.HTTPError), "an httpx error crossed the port"
        current = current.__cause__ or current.__context__


def test_every_call_sends_the_keys_and_json_headers() -> None:
    recorder = Recorder(httpx.Response(200, json=CHECKOUT))
    gateway(recorder).get_checkout("ch_1")
    (sent,) = recorder.requests
    assert sent.method == "GET"
    assert str(sent.url) == f"{BASE}/checkouts/ch_1"
    assert sent.headers["X-PUBLIC-KEY"] == PUBLIC
    assert sent.headers["X-SECRET-KEY"] == SECRET
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "application/json"


def test_the_client_is_made_on_first_use_and_closed() -> None:
    recorder = Recorder(httpx.Response(200, json=CHECKOUT))
    gw = gateway(recorder)
    assert gw._client is None
    gw.get_checkout("ch_1")
    assert gw._client is not None
    gw.close()
    gw.close()
    assert gw._client is None
    gw.get_checkout("ch_1")  # a new client after close
    with gw:
        pass
    assert gw._client is None


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.PoolTimeout("pool timed out"),
        httpx.ReadError("connection reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.LocalProtocolError("bad request line"),
        httpx.ProxyError("proxy refused"),
        httpx.UnsupportedProtocol("no such scheme"),
        httpx.DecodingError("bad gzip"),
        httpx.TooManyRedirects("loop"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transport_errors_become_gateway_unavailable(error: Exception) -> None:
    recorder = Recorder(error)
    with pytest.raises(GatewayUnavailable) as caught:
        gateway(recorder, retries=0).get_checkout("ch_1")
    assert isinstance(caught.value, TransientError)
    assert_no_secret(caught.value)


def test_stream_and_url_errors_become_gateway_errors() -> None:
    with pytest.raises(GatewayError) as caught:
        gateway(Recorder(httpx.InvalidURL("bad url"))).refund("pa_1")
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, GatewayError),
        (401, GatewayError),
        (403, GatewayError),
        (409, GatewayError),
        (422, GatewayError),
        (302, GatewayError),
        (404, GatewayNotFound),
        (408, GatewayUnavailable),
        (429, GatewayUnavailable),
        (500, GatewayUnavailable),
        (502, GatewayUnavailable),
        (503, GatewayUnavailable),
    ],
)
def test_status_codes_map_to_core_errors(status: int, kind: type[WebMagicError]) -> None:
    recorder = Recorder(httpx.Response(status, json={"message": "nope"}))
    with pytest.raises(kind) as caught:
        gateway(recorder, retries=0).refund("pa_1")
    assert type(caught.value) is kind
    assert "nope" in str(caught.value)
    if isinstance(caught.value, GatewayError):
        assert caught.value.status == status


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"message": "Invalid item", "errors": ["amount_in_cents must be positive"]},
            "Invalid item; amount_in",
        ),
        (
            {"message": "Invalid", "errors": {"items": ["bad currency", "bad name"]}},
            "items: bad currency, bad name",
        ),
        ({"error": "Unauthorized"}, "Unauthorized"),
        ({"errors": "just a string"}, "just a string"),
        ({}, "Unprocessable Entity"),
        ("<html>oops</html>", "Unprocessable Entity"),
    ],
)
def test_error_details_come_from_the_provider_body(body: Any, expected: str) -> None:
    response = httpx.Response(422, json=body) if isinstance(body, dict) else httpx.Response(422, text=body)
    with pytest.raises(GatewayError, match=expected):
        gateway(Recorder(response)).create_checkout(checkout_request())


def test_a_key_echoed_by_the_provider_is_scrubbed() -> None:
    recorder = Recorder(httpx.Response(401, json={"message": f"bad key {SECRET} for {PUBLIC}"}))
    with pytest.raises(GatewayError) as caught:
        gateway(recorder).get_checkout("ch_1")
    assert_no_secret(caught.value)
    assert PUBLIC not in str(caught.value)
    assert "***" in str(caught.value)


def test_gets_are_retried_with_backoff_then_succeed() -> None:
    sleeps: list[float] = []
    recorder = Recorder(
        httpx.Response(503), httpx.ConnectError("refused"), httpx.Response(200, json=CHECKOUT)
    )
    info = gateway(recorder, sleeps, retries=2, backoff=0.1).get_checkout("ch_1")
    assert info.id == "ch_1"
    assert len(recorder.requests) == 3
    assert sleeps == [0.1, 0.2]


def test_gets_give_up_after_the_retries() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(500))
    with pytest.raises(GatewayUnavailable):
        gateway(recorder, sleeps, retries=2).get_subscription("su_1")
    assert len(recorder.requests) == 3
    assert len(sleeps) == 2


def test_refusals_are_not_retried() -> None:
    recorder = Recorder(httpx.Response(422, json={"message": "no"}))
    with pytest.raises(GatewayError):
        gateway(recorder).get_checkout("ch_1")
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda gw: gw.create_checkout(checkout_request()),
        lambda gw: gw.refund("pa_1"),
        lambda gw: gw.cancel_subscription("su_1"),
    ],
    ids=["create_checkout", "refund", "cancel_subscription"],
)
@pytest.mark.parametrize("failure", [httpx.Response(503), httpx.ReadTimeout("slow")], ids=["503", "timeout"])
def test_writes_are_never_retried(
    call: Callable[[RecurrenteGateway], object], failure: httpx.Response | Exception
) -> None:
    recorder = Recorder(failure)
    with pytest.raises(GatewayUnavailable):
        call(gateway(recorder, retries=5))
    assert len(recorder.requests) == 1


def test_unreadable_json_on_success_is_transient_and_retried_for_gets() -> None:
    recorder = Recorder(httpx.Response(200, text='{"id": "ch_'), httpx.Response(200, json=CHECKOUT))
    assert gateway(recorder).get_checkout("ch_1").id == "ch_1"
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    "body",
    [[CHECKOUT], {"status": "unpaid"}, {**CHECKOUT, "status": 3}, "null"],
    ids=["a list", "no id", "status not text", "null"],
)
def test_a_body_of_the_wrong_shape_is_a_gateway_error(body: Any) -> None:
    response = httpx.Response(200, text=body) if isinstance(body, str) else httpx.Response(200, json=body)
    recorder = Recorder(response)
    with pytest.raises(GatewayError, match="unexpected body"):
        gateway(recorder).get_checkout("ch_1")
    assert len(recorder.requests) == 1


def test_an_empty_created_checkout_body_is_a_gateway_error() -> None:
    with pytest.raises(GatewayError, match="not a JSON object"):
        gateway(Recorder(httpx.Response(201))).create_checkout(checkout_request())


@pytest.mark.parametrize("bad_id", ["", "../refunds", "ch_1/../../x", "ch 1", "ch_1?x=1", "ç", "x" * 200])
def test_ids_that_cannot_exist_are_not_found_without_a_request(bad_id: str) -> None:
    recorder = Recorder(httpx.Response(200, json=CHECKOUT))
    gw = gateway(recorder)
    with pytest.raises(GatewayNotFound):
        gw.get_checkout(bad_id)
    with pytest.raises(GatewayNotFound):
        gw.cancel_subscription(bad_id)
    assert recorder.requests == []


def test_create_checkout_sends_the_exact_body() -> None:
    recorder = Recorder(httpx.Response(201, json={"id": "ch_9", "checkout_url": "https://pay/ch_9", "x": 1}))
    created = gateway(recorder).create_checkout(checkout_request())
    assert (created.id, created.url) == ("ch_9", "https://pay/ch_9")
    (sent,) = recorder.requests
    assert sent.method == "POST"
    assert str(sent.url) == f"{BASE}/checkouts"
    assert json.loads(sent.content) == {
        "items": [{"name": "Website", "currency": "USD", "amount_in_cents": 49500, "quantity": 1}],
        "success_url": "https://webmagic.example/thanks",
        "cancel_url": "https://webmagic.example/cancelled",
        "metadata": {},
    }


def test_secrets_stay_out_of_repr_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(httpx.Response(500, json={"message": "boom"}))
    gw = gateway(recorder, retries=1)
    assert SECRET not in repr(gw)
    assert PUBLIC not in repr(gw)
    assert "test" in repr(gw)
    with caplog.at_level(logging.DEBUG), pytest.raises(GatewayUnavailable):
        gw.get_checkout("ch_1")
    assert caplog.records, "the retry is logged"
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("public", "secret"),
    [("", SECRET), (PUBLIC, ""), (PUBLIC, "sk_test_with space"), (PUBLIC, "sk_test_\nx"), (PUBLIC, "sk_ñ")],
)
def test_unusable_keys_fail_at_construction_without_showing_them(public: str, secret: str) -> None:
    with pytest.raises(ValueError, match="key") as caught:
        RecurrenteGateway(BASE, public, secret)
    if secret:
        assert secret not in str(caught.value)


@pytest.mark.parametrize("base", ["app.recurrente.com/api", "ftp://x/api", "https:///api", ""])
def test_the_api_base_must_be_an_http_url(base: str) -> None:
    with pytest.raises(ValueError, match="http"):
        RecurrenteGateway(base, PUBLIC, SECRET)


def test_the_mode_follows_the_public_key() -> None:
    assert RecurrenteGateway(BASE, "pk_live_1", SECRET).mode == "live"
    assert RecurrenteGateway(BASE, "pk_test_1", SECRET).mode == "test"
    assert RecurrenteGateway(BASE, "other", SECRET).mode == "unknown"
