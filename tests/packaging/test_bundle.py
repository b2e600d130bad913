"""The one-folder bundle, built by packaging/build.sh and run from itself with a clean environment.

Runs only with ``STATION_BUILD_BUNDLE=1`` (a PyInstaller build takes minutes and needs the
``bundle`` extra's PyInstaller in the build venv, which build.sh installs).
``STATION_BUNDLE_DIR=dist/station`` checks an already built bundle instead of building one.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import station

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(os.environ.get("STATION_BUILD_BUNDLE") != "1" and not os.environ.get("STATION_BUNDLE_DIR"),
                       reason="set STATION_BUILD_BUNDLE=1 to build and check the PyInstaller bundle"),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    given = os.environ.get("STATION_BUNDLE_DIR")
    if given:
        b = Path(given).resolve()
    else:
        built = subprocess.run(["bash", str(REPO / "packaging" / "build.sh")], cwd=REPO, capture_output=True,
                               text=True, timeout=3000)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        b = REPO / "dist" / "station"
    home = tmp_path_factory.mktemp("home")
    (home / "tmp").mkdir()
    # no venv, no PYTHONPATH, no Python on PATH that knows station: only what the bundle carries
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "TMPDIR": str(home / "tmp"), "QT_QPA_PLATFORM": "offscreen",
           "LANG": "C.UTF-8"}
    yield b, env


def run(bundle: tuple[Path, dict[str, str]], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    b, env = bundle
    return subprocess.run([str(b / "station"), *args], cwd=env["HOME"], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_bundle_is_one_folder_with_its_linux_integration(bundle: tuple[Path, dict[str, str]]) -> None:
    b = bundle[0]
    assert (b / "station").is_file() and os.access(b / "station", os.X_OK)
    for f in ("share/60-station.rules", "share/station.desktop", "share/station.svg", "install.sh", "uninstall.sh",
              "share/icons/256x256/apps/station.png"):
        assert (b / f).is_file(), f
    internal = b / "_internal"
    assert list(internal.glob("station/store/migrations/versions/0001_*.py"))
    assert list(internal.glob("unicorn/lib/libunicorn.so*"))
    assert list(internal.glob("PySide6/Qt/plugins/platforms/libqoffscreen.so"))
    assert list(internal.glob("PySide6/Qt/plugins/platforms/libqxcb.so"))
    assert not list(internal.glob("PySide6/Qt/translations/*")), "Qt translations should be pruned"
    assert list(internal.glob("pyocd-*.dist-info/entry_points.txt")) and list(internal.glob("station-*.dist-info"))


def test_version(bundle: tuple[Path, dict[str, str]]) -> None:
    out = run(bundle, "--version")
    assert (out.returncode, out.stdout.strip()) == (0, f"station, version {station.__version__}"), out.stderr


def test_firmware_inspect_reads_a_module(bundle: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    made = run(bundle, "firmware", "demo", "-o", str(tmp_path / "fw"), "--cache", str(tmp_path / "cache"))
    assert made.returncode == 0, made.stderr
    module = sorted((tmp_path / "fw").glob("*system-part1*")) or sorted((tmp_path / "fw").iterdir())
    out = run(bundle, "firmware", "inspect", str(module[0]), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)


def test_pyocd_finds_the_twin_through_the_bundled_entry_points(bundle: tuple[Path, dict[str, str]],
                                                               tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    made = run(bundle, "sim", "create", "1", "--dir", str(bench), "--seed", "7")
    assert made.returncode == 0, made.stderr
    out = run(bundle, "devices", "--sim-dir", str(bench), "--json")
    assert out.returncode == 0, out.stderr
    probes = [d for d in json.loads(out.stdout) if d["kind"] == "probe"]
    # pyocd lists the twin's probe only through the `sim` entry point in station's bundled metadata
    assert [(p["product"], p["error"]) for p in probes] == [("twin probe (twin01)", None)], probes
    assert probes[0]["device_id"].startswith("e00fce68")


def test_demo_provisions_two_devices(bundle: tuple[Path, dict[str, str]]) -> None:
    out = run(bundle, "demo", "--devices", "2")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "2/2 devices passed" in out.stdout + out.stderr


def test_a_two_slot_line_runs_its_slots_in_worker_processes(bundle: tuple[Path, dict[str, str]]) -> None:
    # In the bundle a spawned worker re-runs the `station` program itself (sys.executable), with
    # --multiprocessing-fork arguments: only multiprocessing.freeze_support() in the entry point turns
    # that into the worker; without it each slot ends ERROR "worker process died". Nothing set: the
    # shipped default (slot_workers = "auto") puts 2 slots on the demo's SQLite file in workers.
    out = run(bundle, "--verbose", "demo", "--devices", "2")
    said = out.stdout + out.stderr
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "slots of this run in worker processes" in out.stderr, out.stderr[-3000:]
    assert "worker process died" not in said
    assert "2/2 devices passed" in said


def test_the_window_shows_pass_offscreen(bundle: tuple[Path, dict[str, str]]) -> None:
    out = run(bundle, "gui", "--demo", "--demo-transport", "swd", "--devices", "2", "--demo-answer", "yes",
              "--quit-after", "300", "--size", "1366x768", timeout=420)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "gui smoke: Slot 1: PASS" in out.stdout and "gui smoke: 2/2 slots PASS" in out.stdout
