"""pyocd's own command line treats twins as boards (env STATION_SIM_DIR points it at the bench)."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from intelhex import IntelHex

from station.sim.bench import Bench

pytestmark = pytest.mark.timeout(120)


def pyocd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pyocd")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "pyocd", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90, check=False)


def test_pyocd_list_shows_plugged_twins(bench: Bench, sim_env: dict[str, str]) -> None:
    a, b = bench.create(2, seed=21)
    b.unplug()
    out = pyocd(sim_env, "list")
    assert out.returncode == 0, out.stderr
    assert a.identity.probe_uid in out.stdout
    assert "nrf52840" in out.stdout
    assert b.identity.probe_uid not in out.stdout


def test_pyocd_load_programs_a_twin_and_resets_it(bench: Bench, sim_env: dict[str, str], tmp_path: Path) -> None:
    twin = bench.create(1, seed=22)[0]
    data = random.Random(22).randbytes(6 * 1024)
    ih = IntelHex()
    ih.frombytes(data, offset=0x28000)
    hex_path = tmp_path / "image.hex"
    ih.write_hex_file(str(hex_path))
    out = pyocd(sim_env, "load", "-u", twin.identity.probe_uid, str(hex_path))
    assert out.returncode == 0, out.stderr
    assert bytes(twin.flash[0x28000 : 0x28000 + len(data)]) == data
    boots = [e for e in twin.events.read() if e["kind"] == "boot"]
    assert boots and boots[-1]["cause"] == "swd-reset"  # `load` resets the target afterwards


def test_pyocd_cmd_reads_ficr(bench: Bench, sim_env: dict[str, str]) -> None:
    twin = bench.create(1, seed=23)[0]
    out = pyocd(sim_env, "cmd", "-u", twin.identity.probe_uid, "-c", "read32 0x10000060")
    assert out.returncode == 0, out.stderr
    assert f"{twin.identity.deviceid0:08x}" in out.stdout.lower()


def test_a_probe_open_in_another_process_is_busy_here(bench: Bench, sim_env: dict[str, str]) -> None:
    from pyocd.core import exceptions

    from station.sim.probe import SimProbe

    twin = bench.create(1, seed=24)[0]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from station.sim.probe import SimProbe; "
            f"p = SimProbe.get_probe_with_id({twin.identity.probe_uid!r}); p.open(); "
            "print('open', flush=True); sys.stdin.read(); p.close()",
        ],
        env=sim_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        probe = SimProbe.get_probe_with_id(twin.identity.probe_uid)
        assert probe is not None
        with pytest.raises(exceptions.ProbeError, match="already open"):
            probe.open()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    probe.open()  # released when the other process closed it
    probe.close()
