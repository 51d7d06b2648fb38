"""Webhook verification, once for every inbound webhook: signed, stale, forged, malformed."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import HTTPException
from standardwebhooks.webhooks import Webhook

from shared.webhooks import verify

SECRET = "whsec_" + base64.b64encode(b"a test secret of some length").decode()
BODY = b'{"kind": "won"}'


def signed(at: datetime, secret: str = SECRET, webhook_id: str = "msg_1") -> dict[str, str]:
    signature = Webhook(secret).sign(webhook_id, at, BODY.decode())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


def refusal(headers: dict[str, str], body: bytes = BODY) -> tuple[str, str]:
    with pytest.raises(HTTPException) as caught:
        verify([SECRET], "crm", body, headers)
    assert caught.value.status_code == 401
    detail = caught.value.detail
    assert isinstance(detail, dict)
    return detail["field"], detail["reason"]


def test_a_signed_delivery_is_verified() -> None:
    now = datetime.now(UTC)
    hook = verify([SECRET], "crm", BODY, {k.title(): v for k, v in signed(now).items()})
    assert (hook.source, hook.webhook_id, hook.json()) == ("crm", "msg_1", {"kind": "won"})
    assert abs((hook.sent_at - now).total_seconds()) < 1


def test_refusals_say_why() -> None:
    now = datetime.now(UTC)
    assert refusal({}) == ("webhook-id", "missing header webhook-id: the delivery is not signed")
    other = "whsec_" + base64.b64encode(b"somebody else's secret").decode()
    assert refusal(signed(now, secret=other))[1] == "no signature matches this source's secret"
    assert refusal(signed(now), body=b'{"kind": "lost"}')[0] == "webhook-signature"  # tampered body
    field, reason = refusal(signed(now - timedelta(minutes=6)))
    assert (field, "too old" in reason) == ("webhook-timestamp", True)
    assert "too new" in refusal(signed(now + timedelta(minutes=6)))[1]
    assert refusal({**signed(now), "webhook-signature": "garbage"}) == (
        "webhook-signature", "malformed: expected 'v1,<base64>'")
    assert refusal({**signed(now), "webhook-timestamp": "noon"})[0] == "webhook-timestamp"


def test_during_a_rotation_a_delivery_signed_with_either_secret_or_both_is_verified() -> None:
    now = datetime.now(UTC)
    new = "whsec_" + base64.b64encode(b"the secret that replaces it").decode()
    both = {**signed(now), "webhook-signature": signed(now)["webhook-signature"] + " " + signed(
        now, secret=new)["webhook-signature"]}
    for headers in (signed(now), signed(now, secret=new), both):
        assert verify([new, SECRET], "crm", BODY, headers).webhook_id == "msg_1"
    with pytest.raises(HTTPException) as caught:
        verify([new], "crm", BODY, signed(now))  # the old one once it is no longer valid
    assert caught.value.detail["reason"] == "no signature matches this source's secret"  # type: ignore[index]
    with pytest.raises(HTTPException) as caught:
        verify([], "crm", BODY, signed(now))
    assert caught.value.detail["field"] == "source"  # type: ignore[index]
