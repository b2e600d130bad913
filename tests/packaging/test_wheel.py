"""The wheel and sdist as a factory PC gets them: built by ``python -m build``, installed into a
fresh virtual environment (no source tree, no PYTHONPATH), and run.

Slow (a build, then a venv install of every dependency): deselected by default, run by CI.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import station

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # a build and a venv install under load


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [f for f in out.stdout.decode().split("\0") if f and (REPO / f).is_file()]


def package_files_asked_for(root: Path) -> list[tuple[str, str]]:
    """Every ``package_file("pkg", "part", …)`` in the code, as (where, path inside the wheel)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name != "package_file" or path.name == "paths.py":
                continue
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            assert len(args) == len(node.args), f"{path}:{node.lineno}: package_file with a computed argument"
            found.append((f"{path.relative_to(REPO)}:{node.lineno}", "/".join([args[0].replace(".", "/"), *args[1:]])))
    return found


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build`` (sdist, then the wheel from the unpacked sdist) of the tracked files only,
    so nothing that happens to lie in the checkout can make the package look complete."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for f in tracked_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        (src / f).write_bytes((REPO / f).read_bytes())
    build = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)],
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return out


def wheel_of(dist: Path) -> Path:
    (whl,) = dist.glob(f"station-{station.__version__}-py3-none-any.whl")
    return whl


def test_the_wheel_holds_everything_the_code_opens(dist: Path) -> None:
    names = set(zipfile.ZipFile(wheel_of(dist)).namelist())
    asked = package_files_asked_for(REPO / "station")
    assert {p for _, p in asked} >= {"station/store/migrations", "station/profile/demo_profiles"}
    tracked = [f for f in tracked_files() if f.startswith("station/")]
    for where, path in asked:
        wanted = [f for f in tracked if f == path or f.startswith(path + "/")]
        assert wanted, f"{where} asks for {path}, which is not in the source tree"
        missing = sorted(set(wanted) - names)
        assert not missing, f"{where} asks for {path}; the wheel lacks {missing}"
    assert not sorted(f for f in tracked if f.endswith(".py") and f not in names), "modules missing from the wheel"
    assert not [n for n in names if n.startswith(("tests/", "bench/", ".tmp/")) or "__pycache__" in n]


def test_the_wheel_declares_its_commands_plugins_and_ranges(dist: Path) -> None:
    z = zipfile.ZipFile(wheel_of(dist))
    info = f"station-{station.__version__}.dist-info"
    entry_points = z.read(f"{info}/entry_points.txt").decode()
    assert "station = station.cli.main:main" in entry_points
    assert "[pyocd.probe]" in entry_points and "sim = station.sim.probe_plugin:SimProbePlugin" in entry_points
    requires = [line.split(":", 1)[1].strip() for line in z.read(f"{info}/METADATA").decode().splitlines()
                if line.startswith("Requires-Dist:")]
    pinned = [r for r in requires if "==" in r.partition(";")[0]]
    assert pinned == [], f"exact pins in a library's requirements: {pinned}"
    assert any(r.startswith("pyocd") and "<0.47" in r for r in requires)
    assert any(r.startswith("PySide6-Essentials") and 'extra == "gui"' in r for r in requires)


def test_the_sdist_rebuilds_the_same_package(dist: Path) -> None:
    (sdist,) = dist.glob(f"station-{station.__version__}.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "station/store/migrations/env.py",
            "station/profile/demo_profiles/demo-boron.toml"} <= names


def clean_env(home: Path, venv: Path) -> dict[str, str]:
    """What a fresh login on a factory PC has: the venv's bin on PATH, nothing of this checkout."""
    return {"HOME": str(home), "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "TMPDIR": str(home / "tmp"), "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}


def pip_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` plus pip's own settings (``PIP_*``: indexes, certificates) and its download cache."""
    pip = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    pip.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    return {**env, **pip}


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("venv")
    venv, home = root / "venv", root / "home"
    (home / "tmp").mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # a clean environment for pip too: with this checkout on PYTHONPATH it would take the
    # checkout's station for an installed one and install only the dependencies
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          f"{wheel_of(dist)}[gui]"], env=pip_env(clean_env(home, venv)),
                         capture_output=True, text=True, timeout=1800)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    yield venv, clean_env(home, venv)


def run_installed(venv: tuple[Path, dict[str, str]], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    bin_dir, env = venv[0] / "bin", venv[1]
    return subprocess.run([str(bin_dir / "station"), *args], cwd=env["HOME"], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_installed_station_comes_from_the_venv_not_the_checkout(venv: tuple[Path, dict[str, str]]) -> None:
    out = subprocess.run([str(venv[0] / "bin" / "python"), "-c", "import station; print(station.__file__)"],
                         cwd=venv[1]["HOME"], env=venv[1], capture_output=True, text=True, check=True)
    where = Path(out.stdout.strip())
    assert where.is_relative_to(venv[0]) and not where.is_relative_to(REPO / "station"), where
    version = run_installed(venv, "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"station, version {station.__version__}")


def test_the_installed_demo_provisions_two_devices(venv: tuple[Path, dict[str, str]]) -> None:
    demo = run_installed(venv, "demo", "--devices", "2")
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert "2/2 devices passed" in demo.stdout + demo.stderr


def test_the_installed_window_provisions_two_slots_offscreen(venv: tuple[Path, dict[str, str]]) -> None:
    """The gui extra as installed: the real window, headless, on two SWD twins; it must show PASS."""
    gui = run_installed(venv, "gui", "--demo", "--demo-transport", "swd", "--devices", "2", "--demo-answer", "yes",
                        "--quit-after", "300", "--size", "1366x768", timeout=420)
    assert gui.returncode == 0, gui.stdout[-2000:] + gui.stderr[-3000:]
    assert "gui smoke: Slot 1: PASS" in gui.stdout and "gui smoke: 2/2 slots PASS" in gui.stdout


def interpreter(version: str) -> str | None:
    """A Python ``version`` on this machine that runs (PATH, then pyenv's versions), else None."""

    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    for c in filter(None, candidates):
        ok = subprocess.run([c, "-c", "import sys, venv; print(sys.version_info[:2])"], capture_output=True,
                            text=True)
        if ok.returncode == 0 and ok.stdout.strip() == str(tuple(int(x) for x in version.split("."))):
            return c
    return None


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_pip_resolves_the_wheel_with_the_gui_on(version: str, dist: Path, tmp_path: Path) -> None:
    """3.11 installs for real above; the newer Pythons must at least resolve every requirement."""
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    subprocess.run([python, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    env = pip_env({"HOME": str(tmp_path), "PATH": os.environ["PATH"]})
    resolve = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "--dry-run",
                              "--quiet", "--report", str(tmp_path / "report.json"), f"{wheel_of(dist)}[gui]"],
                             env=env, capture_output=True, text=True, timeout=1800)
    assert resolve.returncode == 0, resolve.stderr[-3000:]

    chosen = {i["metadata"]["name"].lower().replace("_", "-")
              for i in json.loads((tmp_path / "report.json").read_text())["install"]}
    assert {"station", "pyocd", "unicorn", "pyside6-essentials", "sqlalchemy"} <= chosen
