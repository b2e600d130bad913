"""Demo benches live under the user's cache folder and replace each other (issue 15 item 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.cli.demo_cmds import new_demo_bench
from station.sim.bench import forget_twins


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def old_run(root: Path, name: str, pid: int, size: int = 1000) -> Path:
    folder = root / name
    (folder / "twins").mkdir(parents=True)
    (folder / "owner.pid").write_text(f"{pid}\n")
    (folder / "twins" / "flash.bin").write_bytes(b"\xff" * size)
    return folder


def test_a_new_demo_bench_removes_finished_ones_and_keeps_running_ones(tmp_path: Path) -> None:
    finished = old_run(tmp_path, "run-20261201-000000-1", dead_pid(), size=5000)
    running = old_run(tmp_path, "run-20261201-000001-2", os.getppid())
    folder, removed, freed = new_demo_bench(tmp_path)
    assert not finished.exists() and running.exists()
    assert (removed, freed >= 5000) == (1, True)
    assert folder.parent == tmp_path and (folder / "owner.pid").read_text().strip() == str(os.getpid())


@pytest.mark.slow
def test_station_demo_puts_its_bench_in_the_cache_folder_and_says_where(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    earlier = old_run(cache / "station" / "demo", "run-20261201-000000-1", dead_pid())
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "TMPDIR": str(tmp_path / "tmp")}
    env.pop("STATION_SIM_DIR", None)
    (tmp_path / "tmp").mkdir()
    out = subprocess.run([sys.executable, "-m", "station", "demo", "--devices", "1", "--json"], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    bench = Path(json.loads(out.stdout)["bench"])
    try:
        assert bench.parent == (cache / "station" / "demo").resolve()
        assert not earlier.exists() and "removed 1 earlier demo bench" in out.stderr
        assert str(bench) in out.stderr and "until the next `station demo`" in out.stderr
        assert not list((tmp_path / "tmp").glob("station-demo-*"))
    finally:
        forget_twins(bench)
