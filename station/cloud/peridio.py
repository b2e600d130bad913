"""Peridio admin API: create one device per identifier (``POST /devices``).

Peridio has no bulk create call in its admin API, so each device is one request; a device that
already exists (HTTP 409, or a validation error saying the identifier is taken) counts as done,
which keeps a re-sent entry harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from station import settings
from station.cloud.http import RetryPolicy, body_excerpt, check_base_url, rejected, send
from station.cloud.redact import Redactor

DEFAULT_PERIDIO_API: str = settings.setting("peridio_api").default
DEFAULT_API_VERSION = "2"


class PeridioClient:
    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_PERIDIO_API,
        *,
        api_version: str = DEFAULT_API_VERSION,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._key = api_key
        #: masks this client's key in anything built from what the server says
        self.redact = Redactor([api_key])
        self.base_url = check_base_url(base_url, "Peridio API URL")
        self.policy = policy or RetryPolicy()
        self._session = session or requests.Session()
        self._session.headers.update({"Authorization": f"Token {api_key}", "x-api-version": api_version})
        self._sleep = sleep
        self.requests_sent = 0

    def close(self) -> None:
        self._session.close()

    def create_device(
        self, identifier: str, *, product_prn: str, cohort_prn: str | None, tags: Sequence[str]
    ) -> str:
        """Create the device; returns "created" or "exists". Raises CloudRejected for other 4xx."""
        body: dict[str, Any] = {"identifier": identifier, "product_prn": product_prn}
        if cohort_prn:
            body["cohort_prn"] = cohort_prn
        if tags:
            body["tags"] = list(tags)
        what = f"Peridio create device {identifier}"
        self.requests_sent += 1
        resp = send(self._session, "POST", f"{self.base_url}/devices", secret=self._key, what=what,
                    policy=self.policy, sleep=self._sleep, json=body)
        if resp.status_code < 300:
            return "created"
        if resp.status_code == 409 or (
            resp.status_code in (400, 422) and "already" in body_excerpt(resp, self.redact).lower()
        ):
            return "exists"
        raise rejected(resp, what=what, secret=self._key)
