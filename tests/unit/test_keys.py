"""Per-purpose keys: HKDF-SHA256 as RFC 5869 specifies it, one key per label, and the
previous secret key kept for verification during a rotation."""

from __future__ import annotations

import pytest

from webmagic_adapters.keys import (
    EMAIL_LINKS_LABEL,
    OUTBOX_BODIES_LABEL,
    PREVIEW_LINKS_LABEL,
    PURCHASE_RETURN_LABEL,
    Keyring,
    hkdf_sha256,
)
from webmagic_http.auth import JWT_KEY_LABEL
from webmagic_http.portal import CSRF_KEY_LABEL as PORTAL_CSRF
from webmagic_http.purchases import CSRF_KEY_LABEL as PURCHASE_CSRF
from webmagic_http.sandbox import CSRF_KEY_LABEL as SANDBOX_CSRF

SECRET = "s" * 43
OLD = "o" * 43


def test_hkdf_matches_the_rfc_5869_test_vectors() -> None:
    # RFC 5869, appendix A.1 (basic) and A.3 (empty salt and info).
    okm = hkdf_sha256(
        bytes.fromhex("0b" * 22), bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), length=42, salt=bytes(range(13))
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    assert hkdf_sha256(bytes.fromhex("0b" * 22), b"", length=42, salt=b"").hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )
    with pytest.raises(ValueError, match="cannot make"):
        hkdf_sha256(b"x", b"y", length=255 * 32 + 1)


def test_each_purpose_has_its_own_key_and_none_is_the_secret() -> None:
    labels = [
        JWT_KEY_LABEL,
        EMAIL_LINKS_LABEL,
        PREVIEW_LINKS_LABEL,
        PORTAL_CSRF,
        PURCHASE_CSRF,
        SANDBOX_CSRF,
        OUTBOX_BODIES_LABEL,
        PURCHASE_RETURN_LABEL,
    ]
    keys = Keyring(SECRET)
    derived = [keys.key(label) for label in labels]
    assert len(set(labels)) == len(set(derived)) == len(labels)
    assert SECRET not in derived
    assert all(len(bytes.fromhex(key)) == 32 for key in derived)
    assert Keyring(SECRET).key(JWT_KEY_LABEL) == keys.key(JWT_KEY_LABEL)  # stable across restarts
    assert Keyring(OLD).key(JWT_KEY_LABEL) != keys.key(JWT_KEY_LABEL)


def test_the_previous_key_verifies_but_never_signs() -> None:
    rotating = Keyring(SECRET, previous=OLD)
    assert rotating.key(JWT_KEY_LABEL) == Keyring(SECRET).key(JWT_KEY_LABEL)
    assert rotating.verification_keys(JWT_KEY_LABEL) == (
        Keyring(SECRET).key(JWT_KEY_LABEL),
        Keyring(OLD).key(JWT_KEY_LABEL),
    )
    assert Keyring(SECRET).verification_keys(JWT_KEY_LABEL) == (Keyring(SECRET).key(JWT_KEY_LABEL),)
    assert Keyring(SECRET, previous=SECRET).verification_keys(JWT_KEY_LABEL) == (
        Keyring(SECRET).key(JWT_KEY_LABEL),
    )
    assert "o" * 10 not in repr(rotating)
    with pytest.raises(ValueError, match="empty"):
        Keyring("")
