"""Source credentials: the key format and its keyed hash, origins, rotation, validity,
and the rate limits' separate buckets."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared import credentials
from shared.credentials import BadCredential, BootstrapKey, Credential, Kind
from shared.settings import ServiceSettings
from shared.sources import Gate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_key_begins_with_its_id_holds_256_random_bits_and_is_found_by_its_keyed_hash() -> None:
    credential_id, key = credentials.issue_key(Kind.API_KEY)
    assert credential_id.startswith("lbk_") and key.startswith(credential_id + ".")
    assert len(key.split(".")[1]) >= 43  # 32 bytes, base64url
    assert credentials.issue_key(Kind.API_KEY)[1] != key
    assert credentials.digest("pepper", key) == credentials.digest("pepper", key)
    assert credentials.digest("another pepper", key) != credentials.digest("pepper", key)
    assert credentials.kind_of(credentials.issue_key(Kind.FORM_KEY)[1]) is Kind.FORM_KEY
    secret_id, secret = credentials.issue_webhook_secret()
    assert secret_id.startswith("whs_") and secret.startswith("whsec_")


def test_an_origin_is_scheme_host_and_port_as_a_browser_sends_it() -> None:
    assert credentials.origin("https://Forms.Example.com/") == "https://forms.example.com"
    assert credentials.origin("http://localhost:8080") == "http://localhost:8080"
    for bad in ("forms.example.com", "https://example.com/contact", "ftp://example.com", "https://u@example.com"):
        with pytest.raises(BadCredential) as caught:
            credentials.origin(bad)
        assert caught.value.field == "allowed_origins"


def test_a_rate_limit_is_checked_when_the_key_is_issued() -> None:
    assert credentials.rate_limit("20/minute") == "20/minute"
    with pytest.raises(BadCredential):
        credentials.rate_limit("fast")


def key(**change: object) -> Credential:
    base = Credential(credential_id="lbk_1", kind=Kind.API_KEY, source="badge_scan", created_at=NOW,
                      campaign="expo-2026", digest=b"x")
    return replace(base, **change)  # type: ignore[arg-type]


def test_a_credential_says_why_it_is_not_valid() -> None:
    assert key().refusal(NOW) is None
    assert key(valid_until=NOW + timedelta(seconds=1)).valid(NOW)
    assert "expired" in (key(valid_until=NOW).refusal(NOW) or "")
    assert "revoked" in (key(revoked_at=NOW - timedelta(seconds=1), valid_until=NOW).refusal(NOW) or "")


def test_rotation_keeps_the_scope_and_the_old_key_valid_for_the_overlap() -> None:
    successor, until = credentials.rotation(key(), NOW, None, timedelta(hours=24))
    assert (successor.source, successor.campaign, successor.replaces, successor.digest) == (
        "badge_scan", "expo-2026", "lbk_1", None)
    assert until == NOW + timedelta(hours=24)
    _, sooner = credentials.rotation(key(valid_until=NOW + timedelta(hours=1)), NOW, None, timedelta(hours=24))
    assert sooner == NOW + timedelta(hours=1)  # an end already set is not pushed back
    assert credentials.rotation(key(), NOW, NOW + timedelta(minutes=5), timedelta(hours=24))[1] == \
        NOW + timedelta(minutes=5)
    with pytest.raises(BadCredential):
        credentials.rotation(key(revoked_at=NOW), NOW, None, timedelta(hours=1))
    with pytest.raises(BadCredential):
        credentials.rotation(key(), NOW, NOW - timedelta(seconds=1), timedelta(hours=1))


def test_a_bootstrap_key_is_kept_as_its_hash_only() -> None:
    given = BootstrapKey(key="lbk_0000.a-bootstrap-key-for-tests", allowed_origins=["https://a.example/"])
    made = given.credential("pepper", NOW)
    assert made.digest == credentials.digest("pepper", given.key)
    assert (made.source, made.allowed_origins, made.secret) == ("*", ("https://a.example",), None)
    assert made.covers("web_form") and key().covers("badge_scan") and not key().covers("web_form")


def test_each_bucket_has_its_own_allowance_and_a_refusal_says_when_to_retry() -> None:
    gate = Gate(ServiceSettings(rate_limit_per_key="3/minute"))
    limit = gate.per_key
    assert [gate.take(limit, "key", "a") for _ in range(3)] == [None, None, None]
    wait = gate.take(limit, "key", "a")
    assert wait is not None and 1 <= wait <= 60
    assert gate.take(limit, "key", "b") is None  # another key's burst is not this one's
    assert gate.limit_of(key(rate_limit="1000/second")).amount == 1000
    assert gate.limit_of(key()) is limit


def test_a_webhook_secret_is_stored_sealed_and_opens_only_with_its_pepper_and_row() -> None:
    secret_id, secret = credentials.issue_webhook_secret()
    stored = credentials.seal_secret("pepper", secret_id, secret)
    assert stored.startswith("v1:") and secret not in stored
    assert stored != credentials.seal_secret("pepper", secret_id, secret), "a fresh nonce each time"
    assert credentials.open_secret("pepper", secret_id, stored) == secret
    with pytest.raises(credentials.UnreadableSecret):
        credentials.open_secret("another pepper", secret_id, stored)
    with pytest.raises(credentials.UnreadableSecret):  # copied onto another credential's row
        credentials.open_secret("pepper", "whs_0000000000000000", stored)
    assert credentials.open_secret("pepper", secret_id, secret) == secret, "a row from before sealing"
