"""HTTP calls to cloud APIs with bounded retries, backoff with jitter and ``Retry-After``.

Failures are sorted into what the outbox must do next:

* :class:`CloudUnavailable` — network down, timeout, 5xx, 429: keep the entries queued and retry
  later (``retry_after`` carries the server's hint when it gave one);
* :class:`CloudRejected` — a 4xx that will not succeed by retrying: park the entries for a person;
* :class:`CloudAuthError` — the credential itself was refused (401/403): a configuration problem,
  so the entries stay queued untouched and the command exits 2.

Error texts never contain the credential: a :class:`~station.cloud.redact.Redactor` masks it in
anything echoed back, before any excerpt is cut.
"""

from __future__ import annotations

import email.utils
import ipaddress
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from station.cloud.redact import Redactor
from station.errors import CloudAuthError, CloudRejected, CloudUnavailable, ConfigError


@dataclass(frozen=True)
class RetryPolicy:
    """Retries inside one call; the outbox adds its own, slower backoff between drains."""

    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0
    max_retry_after_s: float = 60.0  # a longer server hint ends the call; the outbox waits instead
    timeout_s: tuple[float, float] = (5.0, 30.0)
    #: the whole of one request, answer included: read timeouts apply per read, so a server that
    #: trickles a byte every few seconds would otherwise hold a drain (and outlive its lease) forever
    deadline_s: float = 60.0
    #: the largest answer read; a bigger one is a broken server
    max_body: int = 4 * 1024 * 1024

    def longest_call_s(self) -> float:
        """The longest one :func:`send` can take: every attempt to its deadline, every backoff at its cap."""
        return self.attempts * (self.deadline_s + self.timeout_s[1]) + (self.attempts - 1) * max(
            self.cap_s, self.max_retry_after_s)

    def backoff(self, attempt: int) -> float:
        """Full jitter: spreads stations that failed together so they do not retry in lockstep."""
        return random.uniform(0, min(self.cap_s, self.base_s * (2**attempt)))


def check_base_url(url: str, what: str) -> str:
    """``url`` without a trailing slash, or ConfigError if it is not an http(s) URL with a host.

    Checked before any request: ``requests`` reports a malformed URL as a connection error, which
    the outbox would treat as "network down" and retry forever.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsing the port raises ValueError for a malformed one
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() for c in url):
        raise ConfigError(f"{what} {url!r} is not an http:// or https:// URL with a host")
    return url.rstrip("/")


def is_local_url(url: str) -> bool:
    """True for an API on this machine (loopback): a twin of a cloud, never a real product.

    Only such an API may receive simulated devices; anything else may be a real cloud product,
    where a twin's ID would be imported (and billed) like a real device.
    """
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: the longest a server may make us wait: a Retry-After of 10¹⁷ s or an HTTP date in the year 9999
#: would otherwise overflow the scheduler or park every entry until then (issue 10 item 8)
MAX_SERVER_DELAY_S = 3600.0


def parse_retry_after(value: str | None) -> float | None:
    """A server's ``Retry-After`` (seconds or an HTTP date) as seconds in 0..MAX_SERVER_DELAY_S, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(int(value)), MAX_SERVER_DELAY_S) if len(value) < 20 else MAX_SERVER_DELAY_S
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        seconds = (when - datetime.now(UTC)).total_seconds()
    except OverflowError:
        return MAX_SERVER_DELAY_S
    return min(max(0.0, seconds), MAX_SERVER_DELAY_S)


def scrub(text: str, secret: str) -> str:
    """``text`` with ``secret`` masked in every form a server can echo it (see :mod:`station.cloud.redact`)."""
    return Redactor([secret])(text)


def body_excerpt(resp: requests.Response, redact: Callable[[str], str] = lambda t: t) -> str:
    """The part of an error answer worth showing, redacted *before* it is cut to length."""
    try:
        data = resp.json()
    except ValueError:
        return redact(resp.text)[:200]
    if isinstance(data, dict):
        for key in ("error_description", "error", "message", "errors", "info"):
            if data.get(key):
                return redact(str(data[key]))[:300]
    return redact(str(data))[:200]


class _TooSlow(Exception):
    """Never leaves this module: :func:`send` turns it into CloudUnavailable."""


def _read_within(resp: requests.Response, deadline: float, limit: int) -> None:
    """Read the whole answer before ``deadline`` (monotonic) or raise _TooSlow; the body is then cached."""
    chunks: list[bytes] = []
    size = 0
    # read1 returns what one socket read gave: iter_content(n) would wait for n bytes, a trickle never times out
    read1 = getattr(resp.raw, "read1", None)
    pieces = iter(lambda: read1(16384, decode_content=True), b"") if read1 else resp.iter_content(1024)
    for chunk in pieces:
        chunks.append(chunk)
        size += len(chunk)
        if size > limit or time.monotonic() > deadline:
            resp.close()
            raise _TooSlow(f"more than {limit} bytes" if size > limit else f"{size} bytes so far")
    resp._content = b"".join(chunks)  # what resp.content/.json()/.text read from now on
    resp._content_consumed = True  # type: ignore[attr-defined]


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    secret: str,
    what: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> requests.Response:
    """Send one logical request; return the response of any status below 500 except 401/403/429."""
    redact = Redactor([secret])
    last: CloudUnavailable | None = None
    for attempt in range(policy.attempts):
        if attempt:
            wait = last.retry_after if last and last.retry_after is not None else policy.backoff(attempt)
            sleep(wait)
        try:
            resp = session.request(method, url, timeout=policy.timeout_s, stream=True, **kwargs)
            _read_within(resp, time.monotonic() + policy.deadline_s, policy.max_body)
        except _TooSlow as exc:
            last = CloudUnavailable(f"{what}: the answer did not arrive within {policy.deadline_s:.0f} s ({exc})")
            continue
        except requests.Timeout as exc:
            last = CloudUnavailable(f"{what}: no answer within {policy.timeout_s[1]:.0f} s")
            last.__cause__ = exc
            continue
        except requests.RequestException as exc:
            last = CloudUnavailable(redact(f"{what}: network unavailable ({exc.__class__.__name__})"))
            last.__cause__ = exc
            continue
        if resp.status_code in (401, 403):
            raise CloudAuthError(redact(f"{what}: credential refused (HTTP {resp.status_code}: "
                                        f"{body_excerpt(resp, redact)})"))
        if resp.status_code == 429 or resp.status_code >= 500:
            hint = parse_retry_after(resp.headers.get("Retry-After"))
            last = CloudUnavailable(redact(f"{what}: HTTP {resp.status_code} {body_excerpt(resp, redact)}"), hint)
            if hint is not None and hint > policy.max_retry_after_s:
                break
            continue
        return resp
    assert last is not None
    raise last


def rejected(resp: requests.Response, *, what: str, secret: str) -> CloudRejected:
    redact = Redactor([secret])
    return CloudRejected(redact(f"{what}: HTTP {resp.status_code}: {body_excerpt(resp, redact)}"), resp.status_code)
