"""Credential scrubbing: a real token never leaks, and a short secret is not revealed by the mask."""

from __future__ import annotations

import pytest
from outbox_helpers import device_ids

from station.cloud.http import RetryPolicy, scrub
from station.cloud.particle import ParticleClient
from station.errors import CloudUnavailable

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def test_short_secret_is_not_revealed_by_masking_ordinary_words() -> None:
    """Masking every 'k' would print 'networ*** unavailable' and so tell anyone the key is 'k'."""
    c = ParticleClient("k", "http://127.0.0.1:9", policy=RetryPolicy(attempts=1, timeout_s=(0.5, 0.5)))
    with pytest.raises(CloudUnavailable) as info:
        c.import_devices("widget-1", device_ids(1), import_sims=False)
    assert "network unavailable" in str(info.value) and "***" not in str(info.value)
    assert scrub("bad request: unknown key in body", "k") == "bad request: unknown key in body"


@pytest.mark.parametrize("secret", ["k", "ab", TOKEN])
def test_secret_in_an_echoed_header_or_query_is_masked_whatever_its_length(secret: str) -> None:
    text = f"malformed header 'Authorization: Bearer {secret}' (Token {secret}); url ?access_token={secret}&x=1"
    out = scrub(text, secret)
    assert out == "malformed header 'Authorization: Bearer ***' (Token ***); url ?access_token=***&x=1"


def test_only_whole_tokens_are_masked_for_a_short_secret() -> None:
    assert scrub("Token abcdef is not valid", "abc") == "Token abcdef is not valid"


def test_long_token_is_masked_anywhere() -> None:
    assert scrub(f"unknown credential {TOKEN}!{TOKEN}", TOKEN) == "unknown credential ***!***"
    assert scrub(f'{{"error": "bad key={TOKEN}"}}', TOKEN) == '{"error": "bad key=***"}'
