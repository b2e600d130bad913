"""``station demo`` on a line station: it never writes into the station's registry or bench."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.sim.bench import Bench, forget_twins
from station.store.registry import open_registry


def station(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


@pytest.mark.slow
def test_demo_ignores_the_line_stations_registry_and_bench(tmp_path: Path) -> None:
    production_db = tmp_path / "line" / "station.db"
    production_bench = tmp_path / "line" / "bench"
    env = {"STATION_DB": f"sqlite:///{production_db}", "STATION_SIM_DIR": str(production_bench)}
    out = station("demo", "--devices", "1", "--json", env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    try:
        assert not production_db.exists(), "the demo wrote into the registry STATION_DB names"
        assert not Bench(production_bench).twins(), "the demo added twins to the bench STATION_SIM_DIR names"
        assert Path(doc["bench"]) != production_bench.resolve()
        reg = open_registry(doc["db"], create=False)
        rec = reg.device_record(doc["results"][0]["device_id"])
        assert rec is not None and rec.simulated, "a twin's device is not marked simulated"
        reg.close()
    finally:
        forget_twins(Path(doc["bench"]))


@pytest.mark.slow
def test_demo_uses_the_bench_and_registry_its_command_line_names(tmp_path: Path) -> None:
    bench, db = tmp_path / "mybench", tmp_path / "my.db"
    out = station("demo", "--devices", "1", "--json", "--sim-dir", str(bench), "--db", f"sqlite:///{db}",
                  env={"STATION_SIM_DIR": str(tmp_path / "other")})
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    try:
        assert Path(doc["bench"]) == bench.resolve() and len(Bench(bench).twins()) == 1
        reg = open_registry(f"sqlite:///{db}", create=False)
        records = [reg.device_record(t.device_id) for t in Bench(bench).twins()]
        assert records and all(r is not None and r.simulated for r in records)
        reg.close()
    finally:
        forget_twins(bench)
