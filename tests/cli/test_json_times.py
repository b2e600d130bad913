"""Every time in the CLI's JSON is RFC 3339 with its zone, as the exports write it (issue 15 item 12)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from station.cli.main import cli
from station.domain import rfc3339
from station.store import open_registry
from station.store.records import CloudTargets

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DID = "e00fce68a1b2c3d4e5f60718"


def times(doc: Any, key: str = "") -> list[tuple[str, str]]:
    """Every (key, value) whose key names a time (``*_at``)."""
    if isinstance(doc, dict):
        return [t for k, v in doc.items() for t in times(v, k)]
    if isinstance(doc, list):
        return [t for v in doc for t in times(v, key)]
    return [(key, doc)] if key.endswith("_at") and doc is not None else []


def test_rfc3339_of_naive_utc_and_of_an_aware_time() -> None:
    assert rfc3339(datetime(2026, 12, 1, 19, 34, 4, 589216)) == "2026-12-01T19:34:04Z"
    cet = timezone(timedelta(hours=1))
    assert rfc3339(datetime(2026, 12, 1, 20, 34, 4, tzinfo=cet)) == "2026-12-01T19:34:04Z"
    assert rfc3339(datetime(2026, 12, 1, 19, 34, 4, tzinfo=UTC)) == "2026-12-01T19:34:04Z"


def test_device_show_and_cloud_list_json_times_carry_their_zone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    reg = open_registry(url)
    pid = reg.ensure_product(name="w", platform="boron", particle_product="w-1", peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="[product]")
    lot = reg.ensure_lot("L1", product_id=pid)
    att = reg.start_attempt(device_id=DID, platform="boron", lot_id=lot, profile_id=prof, station="st", slot="1",
                            operator="ana", transport="swd", overrides=[])
    reg.register_passed(att, product_id=pid, lot_id=lot, cloud=CloudTargets(particle_product="w-1"))
    reg.close()
    res = CliRunner().invoke(cli, ["device", "show", DID, "--db", url, "--json"])
    assert res.exit_code == 0, res.stderr
    found = times(json.loads(res.stdout))
    assert {k for k, _ in found} >= {"registered_at", "started_at", "finished_at"}
    assert all(RFC3339_UTC.match(v) for _, v in found), found
    res = CliRunner().invoke(cli, ["cloud", "list", "--db", url, "--json"])
    assert res.exit_code == 0, res.stderr
    found = times(json.loads(res.stdout))
    assert found and all(RFC3339_UTC.match(v) for _, v in found), found
