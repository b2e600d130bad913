"""Particle Cloud product import and device groups (``api.particle.io`` or any compatible base URL).

Import is ``POST /v1/products/:product/devices`` with many IDs per request; the response sorts the
IDs into classes. ``updatedDeviceIds`` (newly added) and ``existingDeviceIds`` (already in the
product) both mean the device is where it should be, which is what makes re-sending harmless.
``invalidDeviceIds``, ``nonmemberDeviceIds`` and ``protectedDeviceIds`` need a person: the reason
shown to the engineer says which class the cloud put the device in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from station import settings
from station.cloud.http import RetryPolicy, check_base_url, rejected, send
from station.cloud.redact import Redactor
from station.errors import CloudRejected, CloudUnavailable

DEFAULT_PARTICLE_API: str = settings.setting("particle_api").default

#: response class → reason an engineer reads when the device is parked
ATTENTION_CLASSES = {
    "invalidDeviceIds": "the cloud does not know this device ID (invalid)",
    "nonmemberDeviceIds": "the device belongs to another account or product (non-member): release it first",
    "protectedDeviceIds": "the device is protected (device protection) and cannot be moved by import",
}
IMPORTED_CLASSES = ("updatedDeviceIds", "existingDeviceIds")


@dataclass
class ImportResult:
    imported: set[str] = field(default_factory=set)
    attention: dict[str, str] = field(default_factory=dict)


class ParticleClient:
    """Talks to the Particle product API with one access token; holds no state besides a session."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_PARTICLE_API,
        *,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._token = token
        #: masks this client's token in anything built from what the server says
        self.redact = Redactor([token])
        self.base_url = check_base_url(base_url, "Particle API URL")
        self.policy = policy or RetryPolicy()
        self._session = session or requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._sleep = sleep
        self.requests_sent = 0

    def close(self) -> None:
        self._session.close()

    def _url(self, product: str) -> str:
        return f"{self.base_url}/v1/products/{quote(product, safe='')}/devices"

    def _send(self, method: str, url: str, what: str, body: dict[str, Any]) -> requests.Response:
        self.requests_sent += 1
        return send(self._session, method, url, secret=self._token, what=what, policy=self.policy,
                    sleep=self._sleep, json=body)

    def import_devices(
        self, product: str, device_ids: Sequence[str], *, import_sims: bool, claim_user: str | None = None
    ) -> ImportResult:
        """Import IDs into ``product``; raises CloudRejected/CloudUnavailable/CloudAuthError for the whole batch."""
        ids = sorted(set(device_ids))
        body: dict[str, Any] = {"ids": ids, "import_sims": bool(import_sims)}
        if claim_user:  # only when the profile asks: claiming is not needed for product devices
            body["claim_user"] = claim_user
        what = f"Particle import into product {product}"
        resp = self._send("POST", self._url(product), what, body)
        if resp.status_code >= 400:
            raise rejected(resp, what=what, secret=self._token)
        try:
            data = resp.json()
        except ValueError as exc:
            raise CloudRejected(f"{what}: answer is not JSON", resp.status_code) from exc
        if not isinstance(data, dict):
            raise CloudUnavailable(f"{what}: the answer is not a JSON object (entries stay queued)")
        return classify_import(ids, data)

    def add_to_groups(self, product: str, device_ids: Sequence[str], groups: Sequence[str]) -> None:
        what = f"Particle groups {', '.join(groups)} in product {product}"
        body = {"action": "groups", "devices": sorted(set(device_ids)), "metadata": {"add": list(groups)}}
        resp = self._send("PUT", self._url(product), what, body)
        if resp.status_code >= 400:
            raise rejected(resp, what=what, secret=self._token)


def _id_list(data: dict[str, Any], key: str) -> list[str]:
    """One class of the answer: absent, or an array of device-ID strings; anything else is a broken answer."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise CloudUnavailable(f"Particle import answer has the wrong shape: {key} is not an array of device IDs "
                               "(entries stay queued)")
    return value


def classify_import(ids: Sequence[str], data: dict[str, Any]) -> ImportResult:
    """Sort every requested ID into imported / needs attention from an import response.

    The answer's shape is checked first (issue 10 item 8): a class that is not an array of strings
    means the server is broken, and the whole batch stays queued (CloudUnavailable) rather than
    being half-settled or crashing the drain.
    """
    for key in (*IMPORTED_CLASSES, *ATTENTION_CLASSES):
        _id_list(data, key)
    result = ImportResult()
    for key in IMPORTED_CLASSES:
        result.imported.update(str(i).lower() for i in data.get(key) or [])
    for key, reason in ATTENTION_CLASSES.items():
        for i in data.get(key) or []:
            did = str(i).lower()
            if did not in result.imported:
                result.attention[did] = reason
    for did in ids:
        if did not in result.imported and did not in result.attention:
            result.attention[did] = "the import answer did not mention this device"
    return result
