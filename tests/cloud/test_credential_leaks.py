"""Issue 10, item 4: a server that echoes the credential, in any shape, never gets it into our output.

The token is planted in the answers of a fake Particle and a fake Peridio API in many shapes (cut
at the excerpt boundary, upper-cased, URL-encoded, JSON-escaped, base64 of a Basic header at each
alignment, glued to other words), with every kind of failure the drain handles (refused batch,
refused credential, rate limit). Then every output a person or a program can see is grepped:
``cloud sync`` in text and JSON, ``cloud list`` in text and JSON, ``cloud status``, the log lines
and every row of every table. The detector here is independent of the station's redactor: it
decodes what it finds (percent escapes, base64 runs at every offset) and looks for any 10
consecutive characters of the token, in any case.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
from click.testing import CliRunner
from cloud_cli import make_cli
from fake_cloud import FakeParticle, FakePeridio
from outbox_helpers import device_ids, register_devices
from sqlalchemy import select

from station.cloud.redact import Redactor
from station.store import open_registry
from station.store.models import Base
from station.store.records import CloudTargets

#: a Particle token is 40 hex digits; a Peridio key here has characters URL and base64 change
PARTICLE_TOKEN = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e"
PERIDIO_KEY = "pk_Live/Ab+Cd=Ef~Gh.Ij-Kl/Mn+Op=QrSt"
WINDOW = 10


def shapes(token: str) -> dict[str, str]:
    b = token.encode()
    return {
        "at-the-cut": "x" * 288 + " " + token,  # the excerpt is 300 characters: cut-then-scrub kept its head
        "at-the-cut-raw": "y" * 288 + token,
        "upper": f"invalid token {token.upper()}",
        "lower": f"invalid token {token.lower()}",
        "url": f"bad request /v1/x?access_token={quote(token, safe='')}&y=1",
        "url-plus": f"form access_token={quote_plus(token)}",
        "url-lower-hex": "echo " + re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(token, safe="")),
        "json-escaped": "echo " + token.replace("/", "\\/"),
        "basic": "Authorization: Basic " + base64.b64encode(b"user:" + b).decode(),
        "basic-1": "Authorization: Basic " + base64.b64encode(b"ab:" + b).decode(),
        "basic-2": "Authorization: Basic " + base64.b64encode(b"a:" + b).decode(),
        "b64-urlsafe": "echo " + base64.urlsafe_b64encode(b).decode().rstrip("="),
        "glued": f"token{token}end",
        "twice-mixed": f"{token[:20].upper()}{token[20:]} and {token}",
    }


def leaked(text: str, token: str) -> bool:
    """True when any WINDOW consecutive characters of ``token`` can be read back out of ``text``."""
    windows = {token[i : i + WINDOW].lower() for i in range(len(token) - WINDOW + 1)}
    candidates = [text, unquote_plus(text), text.replace("\\/", "/")]
    for run in re.findall(r"[A-Za-z0-9+/_-]{14,}", text):
        for skip in range(4):
            chunk = run[skip:].replace("-", "+").replace("_", "/")
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                candidates.append(base64.b64decode(chunk).decode("latin-1"))
            except (binascii.Error, ValueError):
                pass
    return any(w in c.lower() for c in candidates for w in windows)


def test_the_detector_sees_every_planted_shape() -> None:
    for token in (PARTICLE_TOKEN, PERIDIO_KEY):
        for name, text in shapes(token).items():
            assert leaked(text, token), name
        assert not leaked("device e00fce680000000000000001 was refused", token)


@pytest.mark.parametrize("token", [PARTICLE_TOKEN, PERIDIO_KEY])
def test_the_redactor_masks_every_shape_and_keeps_the_words(token: str) -> None:
    redact = Redactor([token])
    for name, text in shapes(token).items():
        out = redact(text)
        assert not leaked(out, token), (name, out)
        assert "***" in out
    assert redact("device e00fce680000000000000001 was refused") == "device e00fce680000000000000001 was refused"


# ----------------------------------------------------------------------------- end to end
pytestmark = pytest.mark.usefixtures("no_keyring")


@pytest.fixture
def particle() -> Iterator[FakeParticle]:
    with FakeParticle(PARTICLE_TOKEN) as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def peridio() -> Iterator[FakePeridio]:
    with FakePeridio(PERIDIO_KEY) as fake:
        yield fake  # type: ignore[misc]


def run(args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(make_cli(), args, env=env, catch_exceptions=False)
    return result.output + (result.stderr if result.stderr_bytes else "")


#: (status, headers, how many times): a refused batch, a refused credential, a rate limit that persists
FAILURES = [(400, {}, 1), (401, {}, 1), (429, {"Retry-After": "0"}, 4)]
BODY_KEYS = ["error", "error_description", "message"]


@pytest.mark.parametrize(("status", "headers", "times"), FAILURES, ids=[str(f[0]) for f in FAILURES])
@pytest.mark.parametrize("target", ["particle", "peridio"])
def test_no_shape_of_an_echoed_credential_reaches_any_output_or_row(
    tmp_path: Path, particle: FakeParticle, peridio: FakePeridio, target: str, status: int,
    headers: dict[str, str], times: int,
) -> None:
    fake, token = (particle, PARTICLE_TOKEN) if target == "particle" else (peridio, PERIDIO_KEY)
    env = {"PARTICLE_ACCESS_TOKEN": PARTICLE_TOKEN, "PERIDIO_API_KEY": PERIDIO_KEY,
           "STATION_PARTICLE_API": particle.url, "STATION_PERIDIO_API": peridio.url}
    url = f"sqlite:///{tmp_path / 'station.db'}"
    reg = open_registry(url)  # one registry: each shape's devices are new, earlier ones are parked or waiting
    cloud = (CloudTargets(particle_product="widget-1") if target == "particle"
             else CloudTargets(peridio_product_prn="prn:1:org:product:widget"))
    try:
        for n, (name, text) in enumerate(shapes(token).items()):
            register_devices(reg, device_ids(2, start=10 * n), cloud)
            body = {BODY_KEYS[n % len(BODY_KEYS)]: text}
            fake.fail_next(status, body=body, headers=headers, times=times)
            seen = [run(["cloud", "sync", "--db", url, *(["--json"] if n % 2 == 0 else [])], env)]
            as_json = ["--json"] if n % 2 else []
            for cmd in (["list", *as_json], ["status", *as_json]):
                seen.append(run(["cloud", *cmd, "--db", url], env))
            with reg.reading() as s:
                seen.append("\n".join(repr(row) for table in Base.metadata.sorted_tables
                                      for row in s.execute(select(table))))
            for out in seen:
                assert not leaked(out, token), (name, out[-600:])
    finally:
        reg.close()
    # the drain did get the planted answers (not a test that passes because nothing was sent)
    assert len(fake.requests) >= len(shapes(token))


def test_reasons_written_by_an_older_station_are_redacted_when_listed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    reg = open_registry(url)
    try:
        (did,) = register_devices(reg, device_ids(1), CloudTargets(particle_product="widget-1"))
        entry = reg.claim_outbox("old-worker", limit=1)[0]
        reg.outbox_fail("old-worker", {entry.id: f"HTTP 400: echo {PARTICLE_TOKEN.upper()}"})
    finally:
        reg.close()
    env = {"PARTICLE_ACCESS_TOKEN": PARTICLE_TOKEN}
    for args in (["list"], ["list", "--json"]):
        out = run(["cloud", *args, "--db", url], env)
        assert did in out and "***" in out and not leaked(out, PARTICLE_TOKEN)
    assert json.loads(run(["cloud", "list", "--json", "--db", url], env))[0]["last_error"].endswith("***")
