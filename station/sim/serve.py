"""``station sim serve``: keep a bench's twins alive for programs that are not the station.

A bench is only a folder; its devices exist for a program while some process serves their faces.
:class:`BenchServer` is that process's core: it starts one **publisher** per kind of face and
tells a user how to run an unmodified program against the twins:

* ``serial`` — each twin's CDC port as a pty (:class:`~station.sim.host.SimHost`), published in
  ``<twin>/serial.json`` so any process finds it by device ID;
* ``usb`` — each twin's USB face as a device node of a umockdev testbed. libusb programs
  (dfu-util, particle-usb through node-usb, pyusb with libusb) run with
  ``LD_PRELOAD=libumockdev-preload.so.0 UMOCKDEV_DIR=<testbed>`` and see the twins as USB devices.
  Each twin's debug probe is there too, as a CMSIS-DAP v2 USB probe (:mod:`station.sim.dap_usb`):
  pyocd's own USB backend finds it by its unique ID, and the twin's core runs in this process.

The umockdev testbed and its ioctl handler need GObject introspection (Debian ``umockdev``,
``gir1.2-umockdev-1.0``, ``python3-gi``), which exists for the system Python only, not in the
project's virtualenv. So :class:`UmockdevPublisher` runs :mod:`station.sim.umockdev_helper` under
``/usr/bin/python3`` (stdlib + gi only) and answers its requests over a socket pair here, where
the twins are: each control transfer a program submits is executed by the twin's own pyusb
backend (:class:`~station.sim.usb_backend.SimUsbBackend`), so the program, the station and the
tests all talk to the same device model.

* ``swd`` — each twin's debug probe behind pyocd's own probe server, in processes of their own
  (:mod:`station.sim.probe_server`); pyocd programs (the station, ``pyocd load``) reach one as
  probe ``remote:localhost:PORT`` and hold no twin code: the twin's emulated core runs, and
  costs its CPU, in the server process.

Publishers share a small interface (:class:`Publisher`: ``start``, ``stop``, ``describe``,
``env``), so other faces can join the same command.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import traceback
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from usb.core import USBError

from station.errors import ConfigError
from station.sim.bench import Bench
from station.sim.dap_usb import KEY_PREFIX as DAP_KEY_PREFIX
from station.sim.dap_usb import DapUsbFaces
from station.sim.host import SimHost
from station.sim.serial_pty import published_ports
from station.sim.usb_backend import SimDevice, SimUsbBackend

SYSTEM_PYTHON = "/usr/bin/python3"
PRELOAD = "libumockdev-preload.so.0"
HELPER = Path(__file__).with_name("umockdev_helper.py")
#: how long the helper may take to build its testbed and say where it is
HELPER_START_S = 20.0


class Publisher(Protocol):
    """One kind of twin face made available to outside programs."""

    name: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def describe(self) -> dict[str, Any]:
        """What a person (or ``--json`` reader) needs to know: ports, testbed, probes…"""
    def env(self) -> dict[str, str]:
        """Environment a program needs to see these faces (empty when none is needed)."""


# ---------------------------------------------------------------------------- serial
class SerialPublisher:
    """Every twin's serial face as a pty, for as long as the twin's firmware runs USB."""

    name = "serial"

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.host = SimHost(bench)

    def start(self) -> None:
        self.host.start()

    def stop(self) -> None:
        self.host.stop()

    def describe(self) -> dict[str, Any]:
        self.host.sync()
        return {
            "ports": [
                {"twin": p.name, "device_id": p.serial_number, "port": p.port} for p in published_ports(self.bench.path)
            ]
        }

    def env(self) -> dict[str, str]:
        return {}


# ---------------------------------------------------------------------------- usb
def umockdev_missing() -> str | None:
    """Why umockdev cannot be used on this machine, or ``None`` when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing (the system Python carries python3-gi)"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if probe.returncode != 0:
        return "GObject introspection for umockdev is missing: apt-get install umockdev gir1.2-umockdev-1.0 python3-gi"
    return None


class UsbFaces:
    """The server side of the umockdev bridge: answers the helper's requests with the twins' USB faces."""

    def __init__(self, bench: Bench) -> None:
        self.backend = SimUsbBackend(bench)
        #: every twin's debug probe, a CMSIS-DAP v2 device of its own (station.sim.dap_usb)
        self.probes = DapUsbFaces(bench)
        self._devices: dict[str, SimDevice] = {}
        self._handles: dict[str, Any] = {}
        #: (number of "faces" answers so far, the keys of the last one): how far the helper has got
        self._answered = threading.Condition()
        self._answers = 0
        self._last_keys: frozenset[str] = frozenset()

    def wait_synced(self, timeout: float) -> bool:
        """Until the helper has asked twice since the faces it was told about are the bench's current ones.

        The helper applies a faces answer before it asks again, so the second question proves
        the device nodes match the twins (a program started now sees no stale device).
        """
        deadline = time.monotonic() + timeout
        with self._answered:
            while True:
                current = frozenset([*(self.key(d) for d in self.backend.enumerate_devices()), *self.probes.keys()])
                if self._last_keys == current:
                    mark = self._answers
                    if self._answered.wait_for(lambda m=mark: self._answers >= m + 1, deadline - time.monotonic()):  # type: ignore[misc]
                        return self._last_keys == current
                if not self._answered.wait(max(0.0, deadline - time.monotonic())):
                    return False

    @staticmethod
    def key(dev: SimDevice) -> str:
        return f"{dev.twin.name}/{dev.generation}/{dev.mode}"

    def faces(self) -> list[dict[str, Any]]:
        out = []
        devices: dict[str, SimDevice] = {}
        for dev in self.backend.enumerate_devices():
            key = self.key(dev)
            devices[key] = dev
            face = dev.face
            out.append(
                {
                    "key": key, "twin": dev.twin.name, "vid": face.device.idVendor, "pid": face.device.idProduct,
                    "bcd": face.device.bcdDevice, "manufacturer": face.strings.get(face.device.iManufacturer, ""),
                    "product": face.strings.get(face.device.iProduct, ""),
                    "serial": face.strings.get(face.device.iSerialNumber, ""),
                    "descriptors": (face.device.to_bytes() + face.config.to_bytes()).hex(),
                }
            )  # fmt: skip
        for key in [k for k in self._devices if k not in devices]:
            self._devices.pop(key, None)
            self._handles.pop(key, None)
        self._devices.update(devices)
        return out + self.probes.faces()

    def _handle(self, key: str) -> Any:
        handle = self._handles.get(key)
        if handle is None:
            dev = self._devices.get(key)
            if dev is None:
                raise USBError("No such device", -4, 19)
            handle = self._handles[key] = self.backend.open_device(dev)
        return handle

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        try:
            if op == "faces":
                faces = self.faces()
                with self._answered:
                    self._answers += 1
                    self._last_keys = frozenset(f["key"] for f in faces)
                    self._answered.notify_all()
                return {"faces": faces}
            if str(request.get("key", "")).startswith(DAP_KEY_PREFIX):
                return self.probes.answer(request)
            handle = self._handle(str(request["key"]))
            if op == "alive":
                self.backend.get_configuration(handle)
                return {}
            if op == "altsetting":
                self.backend.set_interface_altsetting(handle, int(request["interface"]), int(request["alt"]))
                return {}
            if op == "ctrl":
                setup = bytes.fromhex(request["setup"])
                bm, req, value, index, length = int(setup[0]), int(setup[1]), *_u16s(setup[2:8])
                if bm & 0x80:
                    buf = array("B", bytes(length))
                    n = self.backend.ctrl_transfer(handle, bm, req, value, index, buf, 5000)
                    return {"data": bytes(buf[:n]).hex()}
                data = array("B", bytes.fromhex(request.get("data", "")))
                self.backend.ctrl_transfer(handle, bm, req, value, index, data, 5000)
                return {}
        except USBError as exc:
            self._handles.pop(str(request.get("key")), None)
            return {"error": "pipe" if exc.errno == 32 else "nodev"}
        return {"error": "unknown-op"}


def _u16s(raw: bytes) -> tuple[int, int, int]:
    return int.from_bytes(raw[0:2], "little"), int.from_bytes(raw[2:4], "little"), int.from_bytes(raw[4:6], "little")


class UmockdevPublisher:
    """Every twin's USB face as a umockdev device node (helper under the system Python, see module doc)."""

    name = "usb"

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.faces = UsbFaces(bench)
        self.root: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._sock: socket.socket | None = None
        self._dap_sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        why = umockdev_missing()
        if why is not None:
            raise ConfigError(f"cannot publish USB faces: {why}")
        ours, theirs = socket.socketpair()
        dap_ours, dap_theirs = socket.socketpair()
        self._sock, self._dap_sock = ours, dap_ours
        self._proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(HELPER), "--fd", str(theirs.fileno()), "--dap-fd", str(dap_theirs.fileno())],
            pass_fds=[theirs.fileno(), dap_theirs.fileno()], stdout=subprocess.PIPE, text=True, env=_clean_env(),
        )  # fmt: skip
        theirs.close()
        dap_theirs.close()
        self._thread = threading.Thread(target=self._serve, name="umockdev-bridge", daemon=True)
        self._thread.start()
        threading.Thread(target=self._serve_dap, name="umockdev-dap", daemon=True).start()
        assert self._proc.stdout is not None
        ready: dict[str, Any] = {}
        reader = threading.Thread(target=lambda: ready.update(_first_json(self._proc)), daemon=True)
        reader.start()
        reader.join(HELPER_START_S)
        if "umockdev_dir" not in ready:
            self.stop()
            raise ConfigError("the umockdev helper did not start (see its messages above)")
        self.root = str(ready["umockdev_dir"])

    def _serve(self) -> None:
        assert self._sock is not None
        reader = self._sock.makefile("rb")
        while True:
            try:
                line = reader.readline()
            except OSError:  # the helper went away (stop(), or it died): nothing left to serve
                return
            if not line:
                return
            try:
                answer = self.faces.answer(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                answer = {"error": f"bad request: {exc}"}
            try:
                self._sock.sendall((json.dumps(answer) + "\n").encode())
            except OSError:
                return

    def _serve_dap(self) -> None:
        """Probe packets from the helper: each probe's in order on a thread of its own, probes concurrently."""
        sock = self._dap_sock
        assert sock is not None
        send_lock = threading.Lock()
        queues: dict[str, queue.SimpleQueue[dict[str, Any] | None]] = {}

        def work(q: queue.SimpleQueue[dict[str, Any] | None]) -> None:
            while (request := q.get()) is not None:
                try:
                    answer = self.faces.probes.answer({"op": "dap", **request})
                except (ValueError, KeyError, TypeError) as exc:
                    answer = {"error": f"bad request: {exc}"}
                except Exception as exc:  # a twin bug must fail this packet, not silence the probe
                    traceback.print_exc()
                    answer = {"error": f"probe firmware failed: {exc}"}
                with send_lock, contextlib.suppress(OSError):
                    sock.sendall((json.dumps({"id": request.get("id"), **answer}) + "\n").encode())

        try:
            for line in sock.makefile("rb"):
                request = json.loads(line)
                key = str(request.get("key"))
                q = queues.get(key)
                if q is None:
                    q = queues[key] = queue.SimpleQueue()
                    threading.Thread(target=work, args=(q,), name=f"dap-{key}", daemon=True).start()
                q.put(request)
        except (OSError, ValueError):
            pass
        finally:
            for q in queues.values():
                q.put(None)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()  # the helper removes its testbed on SIGTERM
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
            self._proc = None
        for sock in (self._sock, self._dap_sock):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._sock = self._dap_sock = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)  # whatever a killed helper left behind

    def describe(self) -> dict[str, Any]:
        faces = self.faces.faces()
        return {
            "umockdev_dir": self.root,
            "devices": [
                {"twin": f["twin"], "serial": f["serial"], "vid": f"{f['vid']:04x}", "pid": f"{f['pid']:04x}",
                 "product": f["product"]}
                for f in faces if f.get("kind") != "dap"
            ],
            # each twin's debug probe, a CMSIS-DAP v2 USB device (pyocd: -u <probe_uid>)
            "probes": [
                {"twin": f["twin"], "probe_uid": f["serial"], "vid": f"{f['vid']:04x}", "pid": f"{f['pid']:04x}"}
                for f in faces if f.get("kind") == "dap"
            ],
        }  # fmt: skip

    def env(self) -> dict[str, str]:
        assert self.root is not None
        preload = " ".join(p for p in (PRELOAD, os.environ.get("LD_PRELOAD", "")) if p)
        return {"UMOCKDEV_DIR": self.root, "LD_PRELOAD": preload}


def _clean_env() -> dict[str, str]:
    """The helper's environment: the system Python (no virtualenv variables), under umockdev's preload.

    The preload matters for the helper itself: its uevents (device added/removed, which libusb's
    hotplug monitor in the served programs listens to) are built with libudev from the testbed's
    sysfs, which the helper only sees through the preload (the testbed sets UMOCKDEV_DIR itself).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "UMOCKDEV_DIR")}
    env["LD_PRELOAD"] = " ".join(p for p in (PRELOAD, os.environ.get("LD_PRELOAD", "")) if p)
    return env


def _first_json(proc: subprocess.Popen[str] | None) -> dict[str, Any]:
    if proc is None or proc.stdout is None:
        return {}
    line = proc.stdout.readline()
    try:
        return dict(json.loads(line)) if line else {}
    except ValueError:
        return {}


# ---------------------------------------------------------------------------- swd
#: how long probe server processes may take to import pyocd and announce their ports: they start
#: together, so on a loaded machine with many of them each one's import takes longer
SWD_START_S = 60.0
SWD_START_PER_PROCESS_S = 10.0


def probe_server_command() -> list[str]:
    """How to start a probe-server process: ``python -m`` from an installed package; in a PyInstaller
    bundle ``sys.executable`` is the station program, which takes no ``-m`` but has ``station sim probe-server``."""
    import sys

    if getattr(sys, "frozen", False):
        return [sys.executable, "sim", "probe-server"]
    return [sys.executable, "-m", "station.sim.probe_server"]


class SwdPublisher:
    """Every twin's probe behind pyocd's probe server, ``per_process`` twins to a process.

    One twin per process (the default) is what a fixture is: each probe and its target are
    independent, so N twins use up to N cores instead of sharing one interpreter's GIL. Only twins
    plugged in with a probe attached when the publisher starts are served; each process records
    ``<twin>/swd.json`` (:func:`~station.sim.probe_server.published_probes`) while it runs.
    """

    name = "swd"

    def __init__(self, bench: Bench, *, per_process: int = 1, names: Sequence[str] | None = None) -> None:
        if per_process < 1:
            raise ConfigError("twins per SWD server process must be at least 1")
        self.bench = bench
        self.per_process = per_process
        self.names = list(names) if names is not None else None
        self.procs: list[subprocess.Popen[str]] = []
        self.probes: list[dict[str, Any]] = []

    def _served(self) -> list[str]:
        if self.names is not None:
            return self.names
        return [t.name for t in self.bench.twins() if t.state.probe_listed()]

    def start(self) -> None:

        names = self._served()
        groups = [names[i : i + self.per_process] for i in range(0, len(names), self.per_process)]
        env = dict(os.environ)
        if self.bench.realtime:
            env["STATION_SIM_REALTIME"] = "1"
        for group in groups:
            cmd = [*probe_server_command(), "--bench", str(self.bench.path)]
            for name in group:
                cmd += ["--twin", name]
            self.procs.append(
                subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            )
        # Read every announcement after starting them all: the processes import pyocd in parallel.
        deadline = time.monotonic() + SWD_START_S + SWD_START_PER_PROCESS_S * len(groups)
        try:
            for proc, group in zip(self.procs, groups, strict=True):
                got = _announcements(proc, deadline)
                if got is None:
                    raise ConfigError(f"the SWD probe server for {', '.join(group)} did not start (see its messages above)")
                self.probes.extend(got)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        procs, self.procs = self.procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self.probes = []

    def pids(self) -> list[int]:
        """The server processes (to account their CPU apart from the station's)."""
        return [p.pid for p in self.procs]

    def remote_uid(self, twin_name: str) -> str:
        for probe in self.probes:
            if probe["twin"] == twin_name:
                return str(probe["remote"])
        raise KeyError(f"twin {twin_name!r} is not served over SWD")

    def describe(self) -> dict[str, Any]:
        return {"probes": [{k: p[k] for k in ("twin", "probe_uid", "remote")} for p in self.probes]}

    def env(self) -> dict[str, str]:
        return {}


def _announcements(proc: subprocess.Popen[str], deadline: float) -> list[dict[str, Any]] | None:
    """The JSON lines a probe server prints up to its ``ready`` line; ``None`` if it died or took too long."""
    out: list[dict[str, Any]] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("ready"):
                done.set()
                return
            out.append(item)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(max(0.0, deadline - time.monotonic()))
    return out if done.is_set() else None


# ---------------------------------------------------------------------------- the server
class BenchServer:
    """Starts the chosen publishers for a bench and runs programs under them. Use as a context manager."""

    def __init__(
        self, bench: Bench, *, serial: bool = True, usb: bool = True, swd: bool = False, swd_per_process: int = 1
    ) -> None:
        self.bench = bench
        self.publishers: list[Publisher] = []
        if serial:
            self.publishers.append(SerialPublisher(bench))
        if usb:
            self.publishers.append(UmockdevPublisher(bench))
        if swd:
            self.publishers.append(SwdPublisher(bench, per_process=swd_per_process))

    def __enter__(self) -> BenchServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started: list[Publisher] = []
        try:
            for pub in self.publishers:
                pub.start()
                started.append(pub)
        except BaseException:
            for pub in reversed(started):
                pub.stop()
            raise

    def stop(self) -> None:
        for pub in reversed(self.publishers):
            pub.stop()

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until the published faces match the twins' current state (after a reset, a mode switch)."""
        for pub in self.publishers:
            if isinstance(pub, UmockdevPublisher) and not pub.faces.wait_synced(timeout):
                raise ConfigError(f"the USB faces did not settle within {timeout:.0f} s")
            if isinstance(pub, SerialPublisher):
                pub.host.sync()

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for pub in self.publishers:
            out.update(pub.env())
        return out

    def describe(self) -> dict[str, Any]:
        return {"bench": str(self.bench.path), "env": self.env(), **{p.name: p.describe() for p in self.publishers}}

    def howto(self) -> list[str]:
        """Lines telling a person how to run a program against the served twins."""
        lines = [f"serving the twins of {self.bench.path} (Ctrl-C stops)"]
        info = self.describe()
        for port in info.get("serial", {}).get("ports", []):
            lines.append(f"  serial  {port['twin']:<10} {port['device_id']}  {port['port']}")
        usb = info.get("usb")
        if usb is not None:
            for dev in usb["devices"]:
                lines.append(f"  usb     {dev['twin']:<10} {dev['serial']}  {dev['vid']}:{dev['pid']}  {dev['product']}")
            env = " ".join(f"{k}={v}" for k, v in self.env().items())
            for probe in usb.get("probes", []):
                lines.append(f"  usb     {probe['twin']:<10} {probe['probe_uid']}  {probe['vid']}:{probe['pid']}  CMSIS-DAP v2")
            lines.append("run a libusb program (dfu-util, node with particle-usb, …) against them as:")
            lines.append(f"  env {env} dfu-util -l")
            if usb.get("probes"):
                uid = usb["probes"][0]["probe_uid"]
                lines.append("pyocd reaches a probe on that USB by its ID, and a station slot maps to it:")
                lines.append(f"  env {env} pyocd load -u {uid} -t nrf52840 app.hex     |  [slots] \"1\" = \"{uid}\"")
        swd = info.get("swd")
        if swd is not None:
            for probe in swd["probes"]:
                lines.append(f"  swd     {probe['twin']:<10} {probe['probe_uid']}  {probe['remote']}")
            if swd["probes"]:
                first = swd["probes"][0]["remote"]
                lines.append("pyocd programs reach a probe by its remote: ID, and a station slot maps to it:")
                lines.append(f"  pyocd load -u {first} -t nrf52840 app.hex     |  [slots] \"1\" = \"{first}\"")
        return lines

    def run(self, command: Sequence[str]) -> int:
        """Run ``command`` with the faces' environment; its exit status."""
        if not command:
            raise ConfigError("no command to run")
        if shutil.which(command[0]) is None and not Path(command[0]).exists():
            raise ConfigError(f"{command[0]}: command not found")
        self.settle()
        env = dict(os.environ)
        env.update(self.env())
        return subprocess.run(list(command), env=env).returncode


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM (and by Ctrl-C), installed before the server announces itself.

    Installed first, so a supervisor that reads the announcement and stops the server at once
    still gets an orderly shutdown (the ``with BenchServer`` cleans up), never a killed process.
    """
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_until_stopped(stop: threading.Event) -> None:
    """Block until ``stop`` is set or Ctrl-C."""
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
