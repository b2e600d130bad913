"""The bundle's install.sh / uninstall.sh, staged under a DESTDIR, on a bundle laid out as
build.sh lays it out (the executable replaced by a script: the real one is the bundle test's)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "packaging" / "linux"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    b = tmp_path / "unpacked" / "station"
    (b / "share" / "icons" / "48x48" / "apps").mkdir(parents=True)
    (b / "_internal").mkdir()
    (b / "station").write_text("#!/bin/sh\necho 'station, version 0.1.0'\n")
    (b / "station").chmod(0o755)
    for name in ("60-station.rules", "station.desktop"):
        shutil.copy(LINUX / name, b / "share" / name)
    shutil.copy(REPO / "station" / "ui" / "assets" / "station.svg", b / "share" / "station.svg")
    (b / "share" / "icons" / "48x48" / "apps" / "station.png").write_bytes(b"\x89PNG fake")
    for name in ("install.sh", "uninstall.sh"):
        shutil.copy(LINUX / name, b / name)
    return b


def run(script: Path, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(script)], env={"DESTDIR": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)


def test_install_puts_everything_in_place_and_uninstall_takes_exactly_that_away(bundle: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "home" / "op" / ".local" / "share" / "station").mkdir(parents=True)
    registry = root / "home" / "op" / ".local" / "share" / "station" / "station.db"
    registry.write_bytes(b"the record of truth")
    done = run(bundle / "install.sh", root)
    assert done.returncode == 0, done.stderr
    assert "station doctor" in done.stdout
    assert (root / "opt/station/station").is_file() and (root / "opt/station/_internal").is_dir()
    link = root / "usr/local/bin/station"
    assert link.is_symlink() and str(link.readlink()) == "/opt/station/station"
    rules = root / "etc/udev/rules.d/60-station.rules"
    assert rules.read_bytes() == (LINUX / "60-station.rules").read_bytes() and rules.stat().st_mode & 0o777 == 0o644
    entry = (root / "usr/local/share/applications/station.desktop").read_text()
    assert "Exec=/opt/station/station gui" in entry and "Icon=station" in entry
    assert (root / "usr/local/share/icons/hicolor/scalable/apps/station.svg").is_file()
    assert (root / "usr/local/share/icons/hicolor/48x48/apps/station.png").is_file()

    again = run(bundle / "install.sh", root)  # an upgrade over the installed one
    assert again.returncode == 0, again.stderr

    gone = run(root / "opt/station/uninstall.sh", root)
    assert gone.returncode == 0, gone.stderr
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())
    assert left == ["home/op/.local/share/station/station.db"]  # only the user's registry stays
    assert registry.read_bytes() == b"the record of truth"


def test_install_refuses_to_run_outside_a_bundle(tmp_path: Path) -> None:
    shutil.copy(LINUX / "install.sh", tmp_path / "install.sh")
    out = run(tmp_path / "install.sh", tmp_path / "root")
    assert out.returncode == 2 and "run me from the unpacked bundle" in out.stderr


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="needs desktop-file-validate")
def test_the_desktop_entry_is_valid() -> None:
    out = subprocess.run(["desktop-file-validate", str(LINUX / "station.desktop")], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout
