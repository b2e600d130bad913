"""ParticleClient against the fake API: classification, retries, Retry-After, auth, timeouts."""

from __future__ import annotations

import time

import pytest
from fake_cloud import FakeParticle
from outbox_helpers import device_ids

from station.cloud.http import RetryPolicy, parse_retry_after
from station.cloud.particle import ParticleClient
from station.cloud.peridio import PeridioClient
from station.errors import CloudAuthError, CloudRejected, CloudUnavailable, ConfigError

FAST = RetryPolicy(attempts=3, base_s=0.01, cap_s=0.05, timeout_s=(1.0, 0.5))


def client(fake: FakeParticle, token: str | None = None, policy: RetryPolicy = FAST) -> ParticleClient:
    return ParticleClient(token or fake.secret, fake.url, policy=policy)


def test_import_sends_all_ids_in_one_request_with_bearer_token(fake_particle: FakeParticle) -> None:
    ids = device_ids(5)
    result = client(fake_particle).import_devices("widget-1", ids, import_sims=True)
    assert result.imported == set(ids) and not result.attention
    assert len(fake_particle.requests) == 1
    method, path, body, headers = fake_particle.requests[0]
    assert (method, path) == ("POST", "/v1/products/widget-1/devices")
    assert body == {"ids": ids, "import_sims": True}  # no claim_user unless the profile asks
    assert headers["Authorization"] == f"Bearer {fake_particle.secret}"


def test_claim_user_only_when_asked(fake_particle: FakeParticle) -> None:
    client(fake_particle).import_devices("widget-1", device_ids(1), import_sims=False, claim_user="ops@example.com")
    assert fake_particle.requests[0][2]["claim_user"] == "ops@example.com"


def test_partial_success_classifies_each_device(fake_particle: FakeParticle) -> None:
    ids = device_ids(5)
    fake_particle.products["widget-1"] = {ids[1]}
    fake_particle.invalid.add(ids[2])
    fake_particle.nonmember.add(ids[3])
    fake_particle.protected.add(ids[4])
    result = client(fake_particle).import_devices("widget-1", ids, import_sims=False)
    assert result.imported == {ids[0], ids[1]}  # updated + existing both count as imported
    assert set(result.attention) == {ids[2], ids[3], ids[4]}
    assert "invalid" in result.attention[ids[2]]
    assert "non-member" in result.attention[ids[3]]
    assert "protected" in result.attention[ids[4]]


def test_retries_5xx_then_succeeds(fake_particle: FakeParticle) -> None:
    fake_particle.fail_next(503, times=2)
    result = client(fake_particle).import_devices("widget-1", device_ids(2), import_sims=False)
    assert len(result.imported) == 2
    assert len(fake_particle.requests) == 3


def test_persistent_5xx_is_unavailable(fake_particle: FakeParticle) -> None:
    fake_particle.fail_next(502, times=5)
    with pytest.raises(CloudUnavailable):
        client(fake_particle).import_devices("widget-1", device_ids(1), import_sims=False)
    assert len(fake_particle.requests) == FAST.attempts


def test_429_waits_for_retry_after(fake_particle: FakeParticle) -> None:
    fake_particle.fail_next(429, headers={"Retry-After": "1"})
    t0 = time.monotonic()
    result = client(fake_particle).import_devices("widget-1", device_ids(1), import_sims=False)
    assert time.monotonic() - t0 >= 0.95
    assert len(result.imported) == 1


def test_429_with_long_retry_after_gives_up_with_the_hint(fake_particle: FakeParticle) -> None:
    fake_particle.fail_next(429, headers={"Retry-After": "300"})
    with pytest.raises(CloudUnavailable) as info:
        client(fake_particle).import_devices("widget-1", device_ids(1), import_sims=False)
    assert info.value.retry_after == 300
    assert len(fake_particle.requests) == 1


def test_wrong_token_is_a_config_error_without_the_token(fake_particle: FakeParticle) -> None:
    bad = "not-the-right-token-abcdef"
    with pytest.raises(CloudAuthError) as info:
        client(fake_particle, token=bad).import_devices("widget-1", device_ids(1), import_sims=False)
    assert "401" in str(info.value) and bad not in str(info.value)


def test_unknown_product_is_rejected_not_retried(fake_particle: FakeParticle) -> None:
    with pytest.raises(CloudRejected) as info:
        client(fake_particle).import_devices("missing-product", device_ids(1), import_sims=False)
    assert info.value.status == 404 and "Product not found" in str(info.value)
    assert len(fake_particle.requests) == 1


def test_timeout_is_unavailable(fake_particle: FakeParticle) -> None:
    fake_particle.hang_s = 0.8
    with pytest.raises(CloudUnavailable) as info:
        client(fake_particle, policy=RetryPolicy(attempts=1, timeout_s=(1.0, 0.3))).import_devices(
            "widget-1", device_ids(1), import_sims=False)
    assert "no answer" in str(info.value)


def test_network_down_is_unavailable() -> None:
    c = ParticleClient("tok", "http://127.0.0.1:9", policy=FAST)
    with pytest.raises(CloudUnavailable, match="network unavailable"):
        c.import_devices("widget-1", device_ids(1), import_sims=False)


def test_groups_request_shape(fake_particle: FakeParticle) -> None:
    ids = device_ids(2)
    c = client(fake_particle)
    c.import_devices("widget-1", ids, import_sims=False)
    c.add_to_groups("widget-1", ids, ["field-test", "eu"])
    method, path, body, _ = fake_particle.requests[-1]
    assert method == "PUT" and path == "/v1/products/widget-1/devices"
    assert body == {"action": "groups", "devices": ids, "metadata": {"add": ["field-test", "eu"]}}
    assert fake_particle.groups["widget-1"][ids[0]] == {"field-test", "eu"}


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize("bad", ["not a url", "api.particle.io", "ftp://api.particle.io", "https://", "http://h:x/"])
def test_malformed_base_url_is_config_error_not_network_down(bad: str) -> None:
    with pytest.raises(ConfigError, match="is not an http:// or https:// URL"):
        ParticleClient("tok", bad, policy=FAST)
    with pytest.raises(ConfigError, match="Peridio API URL"):
        PeridioClient("key", bad, policy=FAST)
    assert ParticleClient("tok", "http://127.0.0.1:8080/").base_url == "http://127.0.0.1:8080"
