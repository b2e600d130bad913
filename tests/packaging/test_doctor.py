"""``station doctor`` on a made-up machine: a sysfs with a Boron, a J-Link and a mouse attached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cli.main import cli
from station.hw import access

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_rules_are_the_ones_in_packaging_linux() -> None:
    assert access.shipped_rules().read_bytes() == (REPO / "packaging" / "linux" / "60-station.rules").read_bytes()


def plug(sys_root: Path, dev_root: Path, name: str, vid: str, pid: str, product: str, bus: int, dev: int,
         tty: str | None = None) -> None:
    """A USB device as sysfs shows it (a link under bus/usb/devices to its real directory)."""
    real = sys_root / "devices" / "usb1" / name
    real.mkdir(parents=True)
    for k, v in {"idVendor": vid, "idProduct": pid, "product": product, "busnum": str(bus),
                 "devnum": str(dev)}.items():
        (real / k).write_text(v + "\n")
    (sys_root / "bus" / "usb" / "devices").mkdir(parents=True, exist_ok=True)
    (sys_root / "bus" / "usb" / "devices" / name).symlink_to(real)
    node = dev_root / "bus" / "usb" / f"{bus:03d}" / f"{dev:03d}"
    node.parent.mkdir(parents=True, exist_ok=True)
    node.touch()
    if tty:
        (real / f"{name}:1.0" / "tty" / tty).mkdir(parents=True)
        (dev_root / tty).touch()


@pytest.fixture
def machine(tmp_path: Path) -> tuple[Path, Path]:
    sys_root, dev_root = tmp_path / "sys", tmp_path / "dev"
    plug(sys_root, dev_root, "1-1", "2b04", "c00d", "Boron", 1, 2, tty="ttyACM0")
    plug(sys_root, dev_root, "1-2", "1366", "1015", "J-Link", 1, 3)
    plug(sys_root, dev_root, "1-3", "046d", "c52b", "USB Receiver", 1, 4)
    return sys_root, dev_root


def test_devices_are_found_with_their_nodes_and_serial_ports(machine: tuple[Path, Path]) -> None:
    sys_root, dev_root = machine
    devices = {d.sysname: d for d in access.attached_devices(sys_root, dev_root)}
    assert devices["1-1"].nodes == (dev_root / "bus/usb/001/002", dev_root / "ttyACM0")
    assert devices["1-2"].title == "1366:1015 J-Link"


def test_a_device_the_user_cannot_open_is_named_with_the_fix(machine: tuple[Path, Path]) -> None:
    sys_root, dev_root = machine
    closed = {dev_root / "ttyACM0"}  # the Boron's serial port stayed root-only
    found = access.check_devices(access.attached_devices(sys_root, dev_root), access.shipped_rules().read_text(),
                                 access=lambda p: p not in closed)
    by = {f.check: f for f in found}
    assert set(by) == {"2b04:c00d Boron", "1366:1015 J-Link"}  # the mouse is none of our business
    assert not by["2b04:c00d Boron"].ok and str(dev_root / "ttyACM0") in by["2b04:c00d Boron"].detail
    assert by["2b04:c00d Boron"].fix.startswith("sudo udevadm trigger --action=add /sys/bus/usb/devices/1-1")
    assert by["1366:1015 J-Link"].ok
    stale = access.check_devices(access.attached_devices(sys_root, dev_root), access.shipped_rules().read_text(),
                                 access=lambda p: p not in closed, rules_current=False)
    assert stale[0].fix.startswith("install the rules")


def test_the_rules_file_is_missing_stale_or_current(tmp_path: Path) -> None:
    installed = tmp_path / "60-station.rules"
    missing = access.check_rules(installed)
    assert not missing.ok and missing.fix.startswith(
        f"sudo install -m 0644 {access.shipped_rules()} /etc/udev/rules.d/60-station.rules")
    installed.write_text(access.shipped_rules().read_text().replace("0d28", "0d29"))
    assert "differs" in access.check_rules(installed).detail
    installed.write_bytes(access.shipped_rules().read_bytes())
    assert access.check_rules(installed).ok


def test_doctor_exits_1_until_everything_is_fixed(machine: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sys_root, dev_root = machine
    monkeypatch.setattr(access, "SYS_ROOT", sys_root)
    monkeypatch.setattr(access, "DEV_ROOT", dev_root)
    monkeypatch.setattr(access, "INSTALLED_RULES", tmp_path / "rules.d" / "60-station.rules")
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "FIX  udev rules:" in result.output and "run: sudo install -m 0644" in result.output
    access.INSTALLED_RULES.parent.mkdir()
    access.INSTALLED_RULES.write_bytes(access.shipped_rules().read_bytes())
    result = CliRunner().invoke(cli, ["doctor", "--json"])
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["ok"], report  # as root every node opens
    assert [c["check"] for c in report["checks"]] == ["udev rules", "group", "2b04:c00d Boron", "1366:1015 J-Link",
                                                     "registry"]
