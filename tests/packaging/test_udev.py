"""packaging/linux/60-station.rules as udev itself reads it.

``udevadm verify`` arrived in systemd 254; this machine has 252, so the rules are checked with
``udevadm test``: in a private mount namespace the file is the only one in /etc/udev/rules.d, and
umockdev gives udevadm a fake sysfs holding the device (a Particle Boron, a J-Link, a mouse…), so
what is checked is what udev would do on plugging it in: which line matched, the MODE and GROUP it
set, the uaccess tag and ModemManager's ignore flag.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "packaging" / "linux" / "60-station.rules"
USB = "/devices/pci0000:00/0000:00:14.0/usb1/1-1"


def rule_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_every_device_rule_grants_plugdev_and_the_seat_and_nothing_to_the_world() -> None:
    for line in rule_lines(RULES.read_text()):
        if line.startswith(("ACTION", "SUBSYSTEM", "LABEL")):
            continue
        assert 'GROUP="plugdev"' in line and 'TAG+="uaccess"' in line, line
        mode = re.search(r'MODE:?="(\d+)"', line)
        assert mode is not None and int(mode.group(1), 8) & 0o007 == 0, f"world access: {line}"
        assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in line, line


def usb_device(vid: str, pid: str, product: str, *, tty: bool = False) -> str:
    """A umockdev description: one USB device (and its CDC ACM port when ``tty``)."""
    text = (f"P: {USB}\nN: bus/usb/001/002\nE: DEVNAME=/dev/bus/usb/001/002\nE: DEVTYPE=usb_device\n"
            f"E: SUBSYSTEM=usb\nE: BUSNUM=001\nE: DEVNUM=002\nA: idVendor={vid}\nA: idProduct={pid}\n"
            f"A: product={product}\nA: busnum=1\nA: devnum=2\n\n")
    if tty:
        text += (f"P: {USB}/1-1:1.0\nE: DEVTYPE=usb_interface\nE: SUBSYSTEM=usb\nA: bInterfaceClass=02\n\n"
                 f"P: {USB}/1-1:1.0/tty/ttyACM0\nN: ttyACM0\nE: DEVNAME=/dev/ttyACM0\nE: SUBSYSTEM=tty\n\n")
    return text


def udev_test(tmp_path: Path, rules: Path, description: str, syspath: str) -> str:
    """What ``udevadm test`` prints for the device with only ``rules`` installed."""
    dev = tmp_path / "device.umockdev"
    dev.write_text(description)
    script = ("mount -t tmpfs none /etc/udev/rules.d && cp \"$1\" /etc/udev/rules.d/60-station.rules && "
              "exec umockdev-run -d \"$2\" -- udevadm test --action=add \"$3\"")
    out = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(rules), str(dev), f"/sys{syspath}"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


needs_udev = pytest.mark.skipif(
    not (shutil.which("udevadm") and shutil.which("umockdev-run") and shutil.which("unshare") and os.geteuid() == 0),
    reason="needs udevadm (Debian udev), umockdev-run and root for a private mount namespace")


def applied(output: str) -> dict[str, object]:
    """The station rule's actions on the device, as udevadm test reports them."""
    mine = [ln for ln in output.splitlines() if "60-station.rules:" in ln and "Reading" not in ln]
    props = dict(ln.split("=", 1) for ln in output.splitlines() if re.match(r"^[A-Z_]+=", ln))
    mode = [ln.rsplit(" ", 1)[1] for ln in mine if " MODE " in ln]
    group = [ln.rsplit(" ", 1)[1] for ln in mine if " GROUP " in ln]
    return {"problems": [ln for ln in mine if " MODE " not in ln and " GROUP " not in ln],
            "mode": mode[-1] if mode else None, "group": group[-1] if group else None,
            "uaccess": "uaccess" in str(props.get("TAGS", "")), "mm_ignore": props.get("ID_MM_DEVICE_IGNORE")}


PLUGDEV = str(grp.getgrnam("plugdev").gr_gid) if any(g.gr_name == "plugdev" for g in grp.getgrall()) else "plugdev"

DEVICES = {
    "Particle Boron, normal mode": ("2b04", "c00d", "Boron"),
    "Particle Boron, DFU mode": ("2b04", "d00d", "Boron DFU Mode"),
    "Particle Debugger / DAPLink": ("0d28", "0204", "DAPLink CMSIS-DAP"),
    "SEGGER J-Link": ("1366", "1015", "J-Link"),
    "ST-Link V2": ("0483", "3748", "STM32 STLink"),
    "ST-Link V2-1": ("0483", "374b", "STM32 STLink"),
    "ST-Link V3": ("0483", "374f", "STLINK-V3"),
    "Raspberry Pi Debug Probe": ("2e8a", "000c", "Debug Probe (CMSIS-DAP)"),
    "another CMSIS-DAP probe": ("c251", "f001", "MCU-LINK CMSIS-DAP"),
}


@needs_udev
@pytest.mark.parametrize("name", list(DEVICES))
def test_udev_gives_each_probe_and_device_to_plugdev_and_the_seat(name: str, tmp_path: Path) -> None:
    vid, pid, product = DEVICES[name]
    got = applied(udev_test(tmp_path, RULES, usb_device(vid, pid, product), USB))
    assert got == {"problems": [], "mode": "0660", "group": PLUGDEV, "uaccess": True, "mm_ignore": "1"}, name


@needs_udev
def test_a_particle_serial_port_is_hidden_from_modemmanager(tmp_path: Path) -> None:
    got = applied(udev_test(tmp_path, RULES, usb_device("2b04", "c00d", "Boron", tty=True),
                            f"{USB}/1-1:1.0/tty/ttyACM0"))
    assert got["mm_ignore"] == "1" and got["group"] == PLUGDEV and got["problems"] == []


@needs_udev
def test_an_unrelated_device_is_left_alone(tmp_path: Path) -> None:
    got = applied(udev_test(tmp_path, RULES, usb_device("046d", "c52b", "USB Receiver"), USB))
    assert (got["mode"], got["group"], got["mm_ignore"]) == (None, None, None)


@needs_udev
def test_udev_reports_a_broken_rules_file(tmp_path: Path) -> None:
    """The check can fail: a misspelt key in the same file is reported against its line."""
    broken = tmp_path / "broken.rules"
    broken.write_text(RULES.read_text().replace('MODE="0660"', 'MODDE="0660"', 1))
    out = udev_test(tmp_path, broken, usb_device("2b04", "c00d", "Boron"), USB)
    assert "60-station.rules:" in out and "Invalid key 'MODDE'" in out
