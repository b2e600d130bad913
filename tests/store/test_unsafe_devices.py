"""``station lot report``'s UNSAFE TO POWER list: which devices it names, in which order.

Fast cover for ``queries.unsafe_devices`` (the pipeline tests that reach it are slow): the rule is
"the device's latest finished attempt, in any lot, ended unsafe", so a later pass or a later unsafe
run in another lot changes the answer, and a running or skipped attempt does not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from station.domain import UNSAFE_TO_POWER
from station.store import Registry, open_registry


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request: pytest.FixtureRequest) -> Iterator[Registry]:
    """The same registry API on both databases: the query is dialect-neutral SQL, but checked on each."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    r = open_registry(url)
    yield r
    r.close()


def _run(reg: Registry, did: str, lot_id: int, prof: int, outcome: str, reason: str | None = None) -> None:
    a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot_id, profile_id=prof, station="st1",
                          slot="0", operator="ana", transport="swd", overrides=[])
    if outcome != "running":
        reg.finish_attempt(a, outcome=outcome, failing_step="final_flash" if outcome != "passed" else None,
                           reason=reason)


def test_unsafe_devices_follow_each_devices_latest_finished_attempt(reg: Registry) -> None:
    pid = reg.ensure_product(name="widget", platform="boron", particle_product="widget-1", peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="aa" * 32, content="x")
    x, y = reg.ensure_lot("X", product_id=pid), reg.ensure_lot("Y", product_id=pid)
    unsafe = f"{UNSAFE_TO_POWER} (test)"
    d = [f"e00fce68{i:016x}" for i in range(8)]
    _run(reg, d[3], x, prof, "failed", unsafe)            # unsafe, last: listed
    _run(reg, d[1], x, prof, "failed", unsafe)            # unsafe then passed: not listed
    _run(reg, d[1], x, prof, "passed")
    _run(reg, d[2], x, prof, "passed")                    # passed then unsafe: listed
    _run(reg, d[2], x, prof, "error", unsafe)
    _run(reg, d[4], x, prof, "failed", "vbat low")        # failed for another reason: not listed
    _run(reg, d[5], x, prof, "failed", unsafe)            # unsafe, then still running: listed
    _run(reg, d[5], x, prof, "running")
    _run(reg, d[6], x, prof, "failed", unsafe)            # unsafe in X, then passed in Y: not listed in X
    _run(reg, d[6], y, prof, "passed")
    _run(reg, d[7], x, prof, "passed")                    # passed in X, then unsafe in Y: listed in X and Y
    _run(reg, d[7], y, prof, "failed", unsafe)
    _run(reg, d[0], y, prof, "failed", unsafe)            # only in Y: not in X
    assert reg.unsafe_devices("X") == [d[2], d[3], d[5], d[7]]
    assert reg.unsafe_devices("Y") == [d[0], d[7]]
