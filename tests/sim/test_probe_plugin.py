"""The twins' pyocd probe plugin loads only where a simulated bench is configured.

Each case lists probes in a fresh interpreter through pyocd's own plugin discovery, with the
``pyocd.probe`` entry point as pyproject.toml declares it (the installed metadata may predate it:
an editable install keeps the entry points of its last ``pip install``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from station.sim.bench import Bench

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
import importlib_metadata as md

declared = sys.argv[1]
real = md.entry_points

def entry_points(**kw):
    eps = real(**kw)
    if kw.get("group") != "pyocd.probe":
        return eps
    others = [e for e in eps if not e.value.startswith("station.")]
    return md.EntryPoints([*others, md.EntryPoint("sim", declared, "pyocd.probe")])

md.entry_points = entry_points  # before pyocd imports it

from station.hw.swd import list_probes

probes = [p.unique_id for p in list_probes()]
import pyocd.probe.aggregator as aggregator
print(json.dumps({"probes": probes, "plugins": sorted(aggregator.PROBE_CLASSES),
                  "sim_modules": sorted(m for m in sys.modules if m.startswith("station.sim"))}))
"""


def declared_entry_point() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return str(project["entry-points"]["pyocd.probe"]["sim"])


def list_in_child(env_sim_dir: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATION_SIM")}
    if env_sim_dir is not None:
        env["STATION_SIM_DIR"] = str(env_sim_dir)
    out = subprocess.run([sys.executable, "-c", CHILD, declared_entry_point()], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_real_line_lists_probes_without_importing_the_simulator() -> None:
    seen = list_in_child(None)
    assert "sim" not in seen["plugins"]
    assert "cmsisdap" in seen["plugins"]  # pyocd's own probes are still there
    # pyocd imports the entry point's module to ask it; nothing else of the twin comes along
    assert seen["sim_modules"] == ["station.sim", "station.sim.probe_plugin"]


def test_a_simulated_bench_lists_its_twins(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "bench")
    twin = bench.create(1, seed=3)[0]
    seen = list_in_child(bench.path)
    assert "sim" in seen["plugins"]
    assert seen["probes"] == [twin.identity.probe_uid]
    assert "station.sim.probe" in seen["sim_modules"]


def test_a_bench_chosen_after_pyocd_loaded_registers_the_twins(tmp_path: Path) -> None:
    """pyocd asks once, at import; a process that picks its bench later still finds the twins."""
    code = CHILD.replace("from station.hw.swd import list_probes\n", "from station.hw.swd import list_probes\n"
                         "list_probes()\nfrom station.hw import backend\nbackend.use_sim(sys.argv[2])\n")
    bench = Bench(tmp_path / "bench")
    twin = bench.create(1, seed=4)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATION_SIM")}
    out = subprocess.run([sys.executable, "-c", code, declared_entry_point(), str(bench.path)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["probes"] == [twin.identity.probe_uid]
