"""The Svix webhook verifier and signer: the documented test vector, the ``svix`` package as a
peer implementation in both directions, and every way a delivery must be refused."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st
from svix.webhooks import Webhook, WebhookVerificationError

from webmagic_adapters.payments.svix import (
    InvalidWebhookSecret,
    SvixWebhookSigner,
    SvixWebhookVerifier,
    decode_secret,
    generate_secret,
)
from webmagic_core.clock import SystemClock
from webmagic_core.payments.webhooks import InvalidSignature
from webmagic_core.testing import FakeClock

# docs/payments.md's test vector (the one Svix publishes).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SENT_AT = dt.datetime.fromtimestamp(TIMESTAMP, dt.UTC)

OTHER_SECRET = "whsec_" + base64.b64encode(b"another key of twenty-four").decode()


def headers(
    signature: str = SIGNATURE, msg_id: str = MSG_ID, timestamp: str = str(TIMESTAMP), family: str = "svix"
) -> dict[str, str]:
    return {f"{family}-id": msg_id, f"{family}-timestamp": timestamp, f"{family}-signature": signature}


def verifier_at(when: dt.datetime = SENT_AT, secret: str = SECRET) -> SvixWebhookVerifier:
    return SvixWebhookVerifier(secret, clock=FakeClock(when))


def refused(verifier: SvixWebhookVerifier, hdrs: Mapping[str, str], body: bytes, reason: str) -> str:
    with pytest.raises(InvalidSignature, match=reason) as caught:
        verifier.verify(hdrs, body)
    message = str(caught.value)
    # Neither the secret nor the signature we expected ever shows in an error.
    assert SECRET.removeprefix("whsec_") not in message
    assert SIGNATURE.removeprefix("v1,") not in message
    assert caught.value.field == "signature"
    return message


# --- the test vector -----------------------------------------------------------------------


def test_the_documented_vector_verifies() -> None:
    verified = verifier_at().verify(headers(), BODY)
    assert verified.message_id == MSG_ID
    assert verified.timestamp == SENT_AT
    assert verified.timestamp.tzinfo is dt.UTC
    assert verified.body == BODY


def test_the_signer_reproduces_the_documented_vector() -> None:
    assert SvixWebhookSigner(SECRET).sign(MSG_ID, SENT_AT, BODY) == headers()


def test_the_prefix_is_optional_and_missing_padding_is_tolerated() -> None:
    raw = SECRET.removeprefix("whsec_")
    assert decode_secret(raw) == decode_secret(SECRET)
    unpadded = base64.b64encode(b"twenty-five bytes of key!").decode().rstrip("=")
    assert decode_secret(f"whsec_{unpadded}") == b"twenty-five bytes of key!"


@pytest.mark.parametrize("family", ["svix", "webhook"])
def test_both_header_families_are_accepted(family: str) -> None:
    assert verifier_at().verify(headers(family=family), BODY).message_id == MSG_ID


def test_header_names_are_case_insensitive() -> None:
    mixed = {"Svix-Id": MSG_ID, "SVIX-TIMESTAMP": str(TIMESTAMP), "svix-Signature": SIGNATURE}
    assert verifier_at().verify(mixed, BODY).message_id == MSG_ID


# --- the svix package as a peer ------------------------------------------------------------


@given(
    msg_id=st.from_regex(r"msg_[A-Za-z0-9]{1,30}", fullmatch=True),
    text=st.text(max_size=300),
    secret_bytes=st.binary(min_size=16, max_size=64),
)
def test_signatures_made_by_svix_verify_here(msg_id: str, text: str, secret_bytes: bytes) -> None:
    secret = "whsec_" + base64.b64encode(secret_bytes).decode()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signature = Webhook(secret).sign(msg_id, now, text)
    verifier = SvixWebhookVerifier(secret, clock=FakeClock(now))
    verified = verifier.verify(headers(signature, msg_id, str(int(now.timestamp()))), text.encode())
    assert verified.message_id == msg_id
    assert verified.timestamp == now


@given(
    msg_id=st.from_regex(r"msg_[A-Za-z0-9]{1,30}", fullmatch=True),
    text=st.text(max_size=300),
    secret_bytes=st.binary(min_size=16, max_size=64),
)
def test_signatures_made_here_verify_with_svix(msg_id: str, text: str, secret_bytes: bytes) -> None:
    secret = "whsec_" + base64.b64encode(secret_bytes).decode()
    body = text.encode()
    signed = SvixWebhookSigner(secret).sign(msg_id, dt.datetime.now(dt.UTC), body)
    Webhook(secret).verify(body, dict(signed))  # raises if it disagrees
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(body, dict(signed))


def test_svix_signature_over_the_vector_matches_ours() -> None:
    assert Webhook(SECRET).sign(MSG_ID, SENT_AT, BODY.decode()) == SIGNATURE


def test_the_real_clock_accepts_a_fresh_svix_signature() -> None:
    now = dt.datetime.now(dt.UTC)
    signature = Webhook(SECRET).sign(MSG_ID, now, BODY.decode())
    verifier = SvixWebhookVerifier(SECRET, clock=SystemClock())
    verifier.verify(headers(signature, timestamp=str(int(now.timestamp()))), BODY)


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_the_tolerance_pass(offset: int) -> None:
    verifier_at(SENT_AT + dt.timedelta(seconds=offset)).verify(headers(), BODY)


def test_a_stale_timestamp_is_refused() -> None:
    later = verifier_at(SENT_AT + dt.timedelta(seconds=301))
    refused(later, headers(), BODY, "old")


def test_a_future_timestamp_is_refused() -> None:
    earlier = verifier_at(SENT_AT - dt.timedelta(seconds=301))
    refused(earlier, headers(), BODY, "future")


def test_the_tolerance_is_configurable() -> None:
    strict = SvixWebhookVerifier(
        SECRET, clock=FakeClock(SENT_AT + dt.timedelta(seconds=61)), tolerance=dt.timedelta(seconds=60)
    )
    refused(strict, headers(), BODY, "old")


@pytest.mark.parametrize(
    "timestamp", ["1614265330.0", "abc", "-1614265330", "+1614265330", "1e9", "1" * 40, "١٦١٤٢٦٥٣٣٠"]
)
def test_non_integer_timestamps_are_refused(timestamp: str) -> None:
    refused(verifier_at(), headers(timestamp=timestamp), BODY, "integer")


# --- missing or malformed headers ------------------------------------------------------------


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_a_missing_header_is_named(missing: str) -> None:
    hdrs = headers()
    del hdrs[missing]
    message = refused(verifier_at(), hdrs, BODY, "missing")
    assert missing in message


def test_no_headers_at_all() -> None:
    refused(verifier_at(), {}, BODY, "missing webhook header.*svix-id")


def test_an_empty_header_counts_as_missing() -> None:
    refused(verifier_at(), headers(msg_id="  "), BODY, "svix-id")


def test_a_delivery_cannot_mix_families() -> None:
    mixed = {"svix-id": MSG_ID, "svix-timestamp": str(TIMESTAMP), "webhook-signature": SIGNATURE}
    refused(verifier_at(), mixed, BODY, "svix-signature")


def test_an_overlong_message_id_is_refused() -> None:
    refused(verifier_at(), headers(msg_id="m" * 300), BODY, "message id")


# --- signatures --------------------------------------------------------------------------------


def test_a_wrong_secret_is_refused() -> None:
    refused(verifier_at(secret=OTHER_SECRET), headers(), BODY, "no v1 signature matches")


@given(st.data())
def test_any_single_byte_flip_in_the_body_fails(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(BODY) - 1))
    flip = data.draw(st.integers(1, 255))
    altered = bytearray(BODY)
    altered[position] ^= flip
    with pytest.raises(InvalidSignature):
        verifier_at().verify(headers(), bytes(altered))


def test_an_altered_id_or_timestamp_fails() -> None:
    refused(verifier_at(), headers(msg_id=MSG_ID + "x"), BODY, "matches")
    refused(verifier_at(), headers(timestamp=str(TIMESTAMP + 1)), BODY, "matches")


def test_trailing_bytes_on_the_body_fail() -> None:
    refused(verifier_at(), headers(), BODY + b"\n", "matches")


def test_one_matching_signature_among_several_is_enough() -> None:
    wrong = "v1," + base64.b64encode(b"\0" * 32).decode()
    assert verifier_at().verify(headers(f"{wrong} {SIGNATURE}"), BODY).message_id == MSG_ID


def test_other_versions_are_skipped() -> None:
    same_bytes_as_v2 = SIGNATURE.replace("v1,", "v2,")
    refused(verifier_at(), headers(same_bytes_as_v2), BODY, "no v1 signature")
    assert verifier_at().verify(headers(f"{same_bytes_as_v2} v1a,xyz {SIGNATURE}"), BODY)


@pytest.mark.parametrize("junk", ["v1", "v1,", "v1,not base64!", "garbage", ",,,", "v1,AAAA"])
def test_malformed_entries_never_match_nor_crash(junk: str) -> None:
    refused(verifier_at(), headers(junk), BODY, "signature")
    assert verifier_at().verify(headers(f"{junk} {SIGNATURE}"), BODY)


def test_the_signature_is_over_raw_bytes_not_text() -> None:
    body = b"\xff\xfe not utf-8 \x00"
    signed = SvixWebhookSigner(SECRET).sign(MSG_ID, SENT_AT, body)
    assert verifier_at().verify(signed, body).body == body


# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["whsec_", "", "whsec_not*base64!", "whsec_@@@@", "whsec_====", "   "])
def test_a_malformed_secret_fails_at_construction_without_showing_it(secret: str) -> None:
    with pytest.raises(InvalidWebhookSecret) as caught:
        SvixWebhookVerifier(secret, clock=FakeClock())
    body = secret.removeprefix("whsec_").strip()
    assert not body or body not in str(caught.value)
    with pytest.raises(InvalidWebhookSecret):
        SvixWebhookSigner(secret)


def test_the_secret_is_not_in_repr() -> None:
    verifier, signer = verifier_at(), SvixWebhookSigner(SECRET)
    for text in (repr(verifier), str(verifier), repr(signer), repr(vars(verifier)), repr(vars(signer))):
        assert SECRET.removeprefix("whsec_") not in text
    assert "300" in repr(verifier)


def test_generated_secrets_work_both_ways() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(decode_secret(secret)) == 24
    assert generate_secret() != secret
    now = dt.datetime.now(dt.UTC)
    signed = SvixWebhookSigner(secret).sign("msg_1", now, b"{}")
    Webhook(secret).verify(b"{}", dict(signed))
    assert SvixWebhookVerifier(secret, clock=FakeClock(now)).verify(signed, b"{}").message_id == "msg_1"


def test_the_signer_wants_an_aware_timestamp() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SvixWebhookSigner(SECRET).sign(MSG_ID, dt.datetime(2021, 2, 25), BODY)


def test_a_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        SvixWebhookVerifier(SECRET, clock=FakeClock(), tolerance=dt.timedelta(seconds=-1))


# --- forgeries a weakened comparison would let through -----------------------------------------


@pytest.mark.parametrize("keep", [1, 8, 43])
def test_a_truncated_genuine_signature_is_refused(keep: int) -> None:
    genuine = SIGNATURE.removeprefix("v1,")
    refused(verifier_at(), headers("v1," + genuine[:keep]), BODY, "matches")


def test_a_genuine_signature_with_bytes_appended_is_refused() -> None:
    refused(verifier_at(), headers(SIGNATURE + "AA"), BODY, "matches")


def test_one_request_of_every_one_byte_guess_forges_nothing() -> None:
    # A header may carry many entries: were only a prefix compared, 256 guesses would forge one.
    guesses = " ".join("v1," + base64.b64encode(bytes([b])).decode() for b in range(256))
    refused(verifier_at(), headers(guesses), BODY, "matches")


@pytest.mark.parametrize("msg_id", ["msg_\x00abc", "msg\nsecond-line", "msg_\u200b\u2028"])
def test_a_message_id_that_is_not_printable_is_refused(msg_id: str) -> None:
    refused(verifier_at(), headers(msg_id=msg_id), BODY, "message id")


def test_a_secret_with_stray_characters_inside_the_base64_is_refused() -> None:
    # Lenient base64 would drop the stray characters and verify with a different key.
    inside = SECRET[:12] + "!" + SECRET[12:]
    with pytest.raises(InvalidWebhookSecret, match="base64"):
        decode_secret(inside)


# --- the exact answers: each refusal says which rule it broke ----------------------------------


def test_every_refusal_names_its_rule_exactly() -> None:
    verifier = verifier_at()
    future = str(TIMESTAMP + 10**14)  # 15 digits: still a number, refused as being in the future
    cases = {
        "the message id header is empty, too long or not printable": headers(msg_id="m" * 256),
        "the timestamp header is not an integer number of seconds": headers(timestamp="1" * 16),
        "the timestamp is more than 300 s in the future": headers(timestamp=future),
        "the signature header holds no v1 signature": headers("v2," + SIGNATURE.removeprefix("v1,")),
        "no v1 signature matches the body (wrong secret or altered content)": headers("v1,a,b"),
        "missing webhook header(s): svix-timestamp, svix-signature": {"svix-id": MSG_ID},
    }
    for message, hdrs in cases.items():
        assert refused(verifier, hdrs, BODY, ".") == message


def test_limits_are_inclusive() -> None:
    # 255 characters of id and 15 digits of timestamp are the longest accepted.
    longest = "m" * 255
    signed = SvixWebhookSigner(SECRET).sign(longest, SENT_AT, BODY)
    assert verifier_at().verify(signed, BODY).message_id == longest
    fifteen_digits = "0" * 5 + str(TIMESTAMP)  # the same second, so the signature still matches
    assert verifier_at().verify(headers(timestamp=fifteen_digits), BODY).timestamp == SENT_AT


def test_a_header_with_undecodable_bytes_is_refused_not_a_crash() -> None:
    # Servers may hand header bytes through as surrogate escapes; they never match, never raise.
    refused(verifier_at(), headers("v1,\udcff\udcfe"), BODY, "no v1 signature matches")
    assert verifier_at().verify(headers(f"v1,\udcff {SIGNATURE}"), BODY).message_id == MSG_ID


def test_a_zero_tolerance_is_allowed_and_exact() -> None:
    exact = SvixWebhookVerifier(SECRET, clock=FakeClock(SENT_AT), tolerance=dt.timedelta(0))
    assert exact.verify(headers(), BODY).timestamp == SENT_AT
    with pytest.raises(ValueError, match=r"^the timestamp tolerance must not be negative$"):
        SvixWebhookVerifier(SECRET, clock=FakeClock(), tolerance=dt.timedelta(microseconds=-1))


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("whsec_", "the webhook secret is empty (expected whsec_ followed by base64)"),
        ("whsec_@@@@", "the webhook secret is not valid base64 after the whsec_ prefix"),
    ],
)
def test_secret_errors_are_exact(secret: str, message: str) -> None:
    with pytest.raises(InvalidWebhookSecret) as caught:
        decode_secret(secret)
    assert str(caught.value) == message


@pytest.mark.parametrize(("encoded", "key"), [("YWJj", b"abc"), ("YWI", b"ab"), ("YQ", b"a")])
def test_missing_padding_is_restored_for_every_length(encoded: str, key: bytes) -> None:
    assert decode_secret("whsec_" + encoded) == key


class _NoOffset(dt.tzinfo):
    """A time zone that does not know its offset: the timestamp is as good as naive."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None

    def dst(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None


def test_the_signer_refuses_a_zone_without_an_offset() -> None:
    with pytest.raises(ValueError, match=r"^the webhook timestamp must be timezone-aware$"):
        SvixWebhookSigner(SECRET).sign(MSG_ID, dt.datetime(2021, 2, 25, tzinfo=_NoOffset()), BODY)


def test_the_signer_floors_fractional_seconds() -> None:
    before_epoch = dt.datetime(1969, 12, 31, 23, 59, 58, 500_000, tzinfo=dt.UTC)
    assert SvixWebhookSigner(SECRET).sign(MSG_ID, before_epoch, BODY)["svix-timestamp"] == "-2"
    assert SvixWebhookSigner(SECRET).sign(MSG_ID, SENT_AT + dt.timedelta(seconds=0.9), BODY)[
        "svix-timestamp"
    ] == str(TIMESTAMP)


def test_reprs() -> None:
    assert repr(SvixWebhookSigner(SECRET)) == "SvixWebhookSigner()"
    assert repr(verifier_at()) == "SvixWebhookVerifier(tolerance=300s)"
