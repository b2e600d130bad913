"""Can this user reach the probes and devices? What ``station doctor`` checks on Linux.

A factory PC fails in ways a developer's never does: the udev rules were never installed, or an
older station's rules are, the operator's account is not in ``plugdev``, a device was plugged in
before the rules arrived. Each check here names what it found and the exact command that fixes
it, the way particle-cli compares its installed rules file with its own copy and offers the
``sudo cp``.

The rules themselves (``station/hw/linux/60-station.rules``, also at
``packaging/linux/60-station.rules``) are the one list of the devices that matter: the vendor and
product IDs and product strings are read from it, so a probe added there is checked here too.
Attached devices are read from sysfs (``/sys/bus/usb/devices``) and their nodes under
``/dev/bus/usb`` and ``/dev/tty*``; whether the user can open a node is asked of the kernel
(``os.access``, which sees the ACL that ``uaccess`` grants), not worked out from mode bits.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from station.paths import package_file

RULES_NAME = "60-station.rules"
INSTALLED_RULES = Path("/etc/udev/rules.d") / RULES_NAME
SYS_ROOT, DEV_ROOT = Path("/sys"), Path("/dev")
GROUP = "plugdev"


def shipped_rules() -> Path:
    return package_file("station.hw", "linux", "60-station.rules")  # literal: tests/packaging reads it


@dataclass(frozen=True)
class Finding:
    """One check: ``ok``, what was seen, and (when not ok) the command that fixes it."""

    check: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Match:
    """One line of the rules: the attributes a device must have (udev glob patterns, ``|`` = or)."""

    line: int
    attrs: dict[str, str] = field(default_factory=dict)

    def matches(self, attrs: dict[str, str]) -> bool:
        return all(any(fnmatch.fnmatchcase(attrs.get(k, ""), alt) for alt in pattern.split("|"))
                   for k, pattern in self.attrs.items())


_ATTR = re.compile(r'ATTRS\{(\w+)\}=="([^"]*)"')


def rule_matches(text: str) -> list[Match]:
    """The device-matching lines of a rules file (the guards and labels left out)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        attrs = dict(_ATTR.findall(line))
        if attrs and not line.lstrip().startswith("#"):
            out.append(Match(n, attrs))
    return out


def install_command(shipped: Path) -> str:
    return (f"sudo install -m 0644 {shipped} {INSTALLED_RULES} && sudo udevadm control --reload-rules "
            "&& sudo udevadm trigger")


def check_rules(installed: Path, shipped: Path | None = None) -> Finding:
    """Installed and byte-for-byte the rules this station ships?"""
    shipped = shipped or shipped_rules()
    fix = install_command(shipped) + "   # then unplug and re-plug the devices"
    if not installed.exists():
        return Finding("udev rules", False, f"{installed} is not installed", fix)
    try:
        same = installed.read_bytes() == shipped.read_bytes()
    except OSError as exc:
        return Finding("udev rules", False, f"{installed} cannot be read: {exc.strerror or exc}", fix)
    if not same:
        return Finding("udev rules", False, f"{installed} differs from this station's rules ({shipped})", fix)
    return Finding("udev rules", True, f"{installed} is installed and current")


def check_group(user_groups: Callable[[], list[int]] = os.getgroups) -> Finding:
    """In plugdev (the group the rules give the devices to)? The seat's uaccess ACL also works,
    but only for the user logged in at the screen, not over ssh or for a kiosk service."""
    import grp  # POSIX only, and only Linux gets here (`station doctor`): the module stays portable

    try:
        gid = grp.getgrnam(GROUP).gr_gid
    except KeyError:
        return Finding("group", False, f"there is no {GROUP} group on this machine", f"sudo groupadd {GROUP}")
    if os.geteuid() == 0 or gid in user_groups():
        return Finding("group", True, f"this user is in {GROUP}" if os.geteuid() else "running as root")
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "$USER"
    return Finding("group", False, f"this user is not in {GROUP}",
                   f"sudo usermod -aG {GROUP} {user}   # then log out and in again")


@dataclass(frozen=True)
class UsbDevice:
    sysname: str  # e.g. 1-4.2
    attrs: dict[str, str]  # idVendor, idProduct, product, serial
    nodes: tuple[Path, ...]  # /dev/bus/usb/BBB/DDD and its serial ports

    @property
    def title(self) -> str:
        a = self.attrs
        return f"{a.get('idVendor', '?')}:{a.get('idProduct', '?')} {a.get('product', '')}".strip()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def attached_devices(sys_root: Path, dev_root: Path) -> list[UsbDevice]:
    """USB devices in sysfs with their device node and any tty (serial port) beneath them."""
    base = sys_root / "bus" / "usb" / "devices"
    out = []
    for entry in sorted(base.glob("*")) if base.is_dir() else []:
        if ":" in entry.name or not (entry / "idVendor").exists():
            continue  # interfaces (1-4:1.0) and root hubs' missing attributes
        attrs = {k: _read(entry / k) for k in ("idVendor", "idProduct", "product", "serial")}
        nodes = []
        bus, dev = _read(entry / "busnum"), _read(entry / "devnum")
        if bus.isdigit() and dev.isdigit():
            nodes.append(dev_root / "bus" / "usb" / f"{int(bus):03d}" / f"{int(dev):03d}")
        real = entry.resolve()
        nodes += [dev_root / tty.name for tty in sorted(real.glob("*:*/tty/*")) + sorted(real.glob("*:*/tty*"))
                  if tty.name.startswith("tty") and tty.name != "tty"]
        out.append(UsbDevice(entry.name, attrs, tuple(dict.fromkeys(nodes))))
    return out


def check_devices(devices: list[UsbDevice], rules_text: str, *,
                  access: Callable[[Path], bool] = lambda p: os.access(p, os.R_OK | os.W_OK),
                  rules_current: bool = True) -> list[Finding]:
    """Each attached device the rules cover: can this user open every node of it?"""
    matches = rule_matches(rules_text)
    out = []
    for d in devices:
        if not any(m.matches(d.attrs) for m in matches):
            continue
        closed = [n for n in d.nodes if n.exists() and not access(n)]
        if not closed:
            out.append(Finding(d.title, True, "can be opened" + (f" ({', '.join(map(str, d.nodes))})" if d.nodes else "")))
            continue
        if not rules_current:
            fix = "install the rules (above), then unplug and re-plug it"
        else:
            fix = f"sudo udevadm trigger --action=add /sys/bus/usb/devices/{d.sysname}   # or unplug and re-plug it"
        out.append(Finding(d.title, False, f"this user cannot open {', '.join(map(str, closed))}", fix))
    return out


def diagnose() -> list[Finding]:
    """Everything ``station doctor`` checks, in the order a fix should be applied."""
    shipped = shipped_rules()
    rules = check_rules(INSTALLED_RULES, shipped)
    findings = [rules, check_group()]
    devices = attached_devices(SYS_ROOT, DEV_ROOT)
    found = check_devices(devices, shipped.read_text(), rules_current=rules.ok)
    findings += found or [Finding("devices", True, "no Particle device or debug probe is attached")]
    return findings
