"""verify_webhook against the documented Standard Webhooks test vector."""

from __future__ import annotations

import pytest

from kling_widget.api.webhooks import WebhookVerificationError, verify_webhook

SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
BODY = (
    '{"id":"1234567890","status":"succeeded","message":"",'
    '"create_time":1781080778802,"update_time":1781080794151}'
)
STAMP = 1781080794
GOOD = "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="
WRONG = "v1,AAAAJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="


def headers(signature: str = GOOD, stamp: int = STAMP) -> dict[str, str]:
    return {
        "webhook-id": "9876543210",
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }


def test_documented_vector_verifies() -> None:
    data = verify_webhook(SECRET, headers(), BODY, now=STAMP)
    assert data["id"] == "1234567890" and data["status"] == "succeeded"


def test_bytes_body_and_case_insensitive_headers() -> None:
    h = {k.upper(): v for k, v in headers().items()}
    assert verify_webhook(SECRET, h, BODY.encode(), now=STAMP + 10)["id"] == "1234567890"


def test_several_signatures_one_good() -> None:
    sig = f"{WRONG} v2,whatever {GOOD}"
    assert verify_webhook(SECRET, headers(sig), BODY, now=STAMP)["status"] == "succeeded"


@pytest.mark.parametrize(
    "sig", [WRONG, f"{WRONG} {WRONG}", "v2," + GOOD[3:], GOOD[3:], ""], ids=str
)
def test_wrong_signatures_are_rejected(sig: str) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers(sig), BODY, now=STAMP)


def test_tampered_body_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify_webhook(SECRET, headers(), BODY.replace("succeeded", "failed"), now=STAMP)


@pytest.mark.parametrize("offset", [301, -301, 3600])
def test_timestamp_more_than_5_minutes_off_is_rejected(offset: int) -> None:
    with pytest.raises(WebhookVerificationError, match="more than 300 s"):
        verify_webhook(SECRET, headers(), BODY, now=STAMP + offset)


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_timestamp_within_5_minutes_is_accepted(offset: int) -> None:
    verify_webhook(SECRET, headers(), BODY, now=STAMP + offset)


def test_missing_header_is_rejected() -> None:
    h = headers()
    del h["webhook-id"]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook(SECRET, h, BODY, now=STAMP)


def test_wrong_secret_is_rejected_and_never_echoed() -> None:
    other = "whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldG90aGVyc2VjcmV0"
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(other, headers(), BODY, now=STAMP)
    assert other not in str(info.value)
    with pytest.raises(WebhookVerificationError) as info2:
        verify_webhook("whsec_not base64!!", headers(), BODY, now=STAMP)
    assert "not base64" not in str(info2.value)
