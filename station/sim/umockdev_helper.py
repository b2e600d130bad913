"""The umockdev side of ``station sim serve``: twins' USB faces as device nodes for unmodified libusb programs.

Run by the serve process as ``/usr/bin/python3 umockdev_helper.py --fd N`` (Debian's
``python3-gi`` and ``gir1.2-umockdev-1.0`` live in the system Python, not in the project's
virtualenv, so this file imports nothing but the standard library and ``gi``). It owns a
``UMockdev.Testbed``: a temporary sysfs and ``/dev`` that any program run with
``LD_PRELOAD=libumockdev-preload.so.0 UMOCKDEV_DIR=<root>`` sees instead of the machine's. Each
twin USB face becomes one ``usb_device`` there (sysfs attributes and the descriptors file, as
the kernel publishes them) whose ``/dev/bus/usb/BBB/DDD`` answers usbfs ioctls here.

The twin itself stays in the serve process: every control transfer a program submits is sent
over the socket ``--fd`` (JSON lines: ``{"op": "ctrl", "key", "setup", "data"}``) and its answer
(data, or a STALL / no-device) completes the URB. The list of faces is polled from the same
socket; a face that disappears (unplug, reset, DFU ↔ normal) is removed with a ``remove``
uevent and its successor added with ``add``, at a new device number, as the kernel does.

usbfs ioctls answered (linux/usbdevice_fs.h, x86-64 sizes): GET_CAPABILITIES, SUBMITURB and
REAPURB(NDELAY) for control URBs on endpoint 0 (bulk/interrupt URBs on the twins' own faces fail:
the CDC data is served on the twin's pty), DISCARDURB, CLAIM/RELEASEINTERFACE, DISCONNECT_CLAIM,
SETINTERFACE, SETCONFIGURATION, GETDRIVER (no driver), CONNECTINFO, GET_SPEED, CLEAR_HALT, RESET,
CONTROL.

**Debug probes** (faces of kind ``dap``, :mod:`station.sim.dap_usb`) also move bulk URBs, the way a
CMSIS-DAP v2 probe's pipe does: a bulk OUT URB carries one command packet, which is sent to the
serve process on a socket of its own (``--dap-fd``; ``{"id", "key", "data"}`` lines, answered by
``{"id", "data", "reply"}`` in each probe's order, different probes concurrently, so one twin's
device time does not hold up another's) and completes when that answer arrives; the response
joins the probe's IN queue. A bulk IN URB completes with the oldest queued response,
or stays pending until one exists (pyocd's pyusb v2 backend keeps one IN URB submitted from a
thread of its own); DISCARDURB takes a pending URB back (libusb's timeout), and REAP then returns
it with status -ENOENT, as the kernel's usbfs does.

**Poll.** libusb learns of completed URBs by poll()ing the device node for POLLOUT (``linux_usbfs.c``:
``usbi_add_event_source(…, fd, POLLOUT)``; then it reaps with REAPURBNDELAY until EAGAIN), and the
kernel's usbfs reports POLLOUT only while a completed URB waits to be reaped. umockdev makes every
USB node a plain file, always ready, and its preload wraps no poll/select/epoll: a program waiting
for a probe's answer would spin on REAPURBNDELAY, each one a round trip over umockdev's socket, for
as long as the probe takes to answer (that spin was most of the station's CPU on this seam). So a
probe's node is replaced by a FIFO of one page that this helper keeps full while no URB of that node
is complete (:class:`Readiness`): poll() on the program's side then blocks until one is, as on a real
kernel. The preload only redirects the node's path and connects the ioctl socket, so a FIFO opens
like the file did. A disconnect: Linux's usbfs then polls EPOLLHUP (``usbdev_poll``: not connected)
and EPOLLERR (the opener's state left the device's file list) for good, and libusb's Linux backend
answers POLLERR by taking the fd out of its poll set (``op_handle_events``: ``usbi_remove_event_source``,
then the disconnect), so its event loop never wakes for that node again. A FIFO cannot say POLLERR
or POLLHUP to an opener that holds it O_RDWR (``pipe_poll`` reports them only when no reader, or no
writer, is left: the opener is both), and a removed node that polled ready for good made libusb
reap ENODEV in a loop until the program closed it. So a removed node polls ready only while the
removal's -ESHUTDOWN completions wait to be reaped, and never after: the event loop sleeps, as it
does once libusb has dropped the fd. Not modelled: a program that opened the node in the instant
between umockdev's ``add`` uevent and the FIFO replacing the file still spins.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import sys
import threading
from typing import Any

import gi  # type: ignore[import-not-found]

gi.require_version("UMockdev", "1.0")
from gi.repository import GLib, UMockdev  # type: ignore[import-not-found]  # noqa: E402


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("U") << 8) | nr


_IO, _IOW, _IOR, _IOWR = 0, 1, 2, 3
USBDEVFS_CONTROL = _ioc(_IOWR, 0, 24)
USBDEVFS_SETINTERFACE = _ioc(_IOR, 4, 8)
USBDEVFS_SETCONFIGURATION = _ioc(_IOR, 5, 4)
USBDEVFS_GETDRIVER = _ioc(_IOW, 8, 260)
USBDEVFS_SUBMITURB = _ioc(_IOR, 10, 56)
USBDEVFS_DISCARDURB = _ioc(_IO, 11, 0)
USBDEVFS_REAPURB = _ioc(_IOW, 12, 8)
USBDEVFS_REAPURBNDELAY = _ioc(_IOW, 13, 8)
USBDEVFS_CLAIMINTERFACE = _ioc(_IOR, 15, 4)
USBDEVFS_RELEASEINTERFACE = _ioc(_IOR, 16, 4)
USBDEVFS_CONNECTINFO = _ioc(_IOW, 17, 8)
USBDEVFS_RESET = _ioc(_IO, 20, 0)
USBDEVFS_CLEAR_HALT = _ioc(_IOR, 21, 4)
USBDEVFS_GET_CAPABILITIES = _ioc(_IOR, 26, 4)
USBDEVFS_DISCONNECT_CLAIM = _ioc(_IOR, 27, 264)
USBDEVFS_GET_SPEED = _ioc(_IO, 31, 0)
USBDEVFS_URB_TYPE_CONTROL = 2
USBDEVFS_URB_TYPE_BULK = 3
USB_SPEED_HIGH = 3
USBDEVFS_CAP_ZERO_PACKET = 0x01
USBDEVFS_CAP_BULK_CONTINUATION = 0x02
USBDEVFS_CAP_NO_PACKET_SIZE_LIM = 0x04
USB_SPEED_FULL = 2
URB_SIZE = 56
DAP_DISCONNECT = 0x03  # CMSIS-DAP command ID: the end of a pyocd session
#: in the testbed's root: each probe's usbfs ioctls and REAPURB(NDELAY)s (answered, EAGAIN), rewritten at every
#: DAP_Disconnect
REAP_STATS = "usbfs_reaps.json"
BUS = 1
#: the root hub every face hangs off (bus 1, device 1): device descriptor (hub class, VID 1d6b
#: PID 0002) + a configuration with one hub interface and its interrupt endpoint
ROOT_HUB = "12010002090001406b1d020000000000000109021900010100e0000904000001090000000705810304000c"


class Bridge:
    """The socket to the serve process: one request, one answer, in order (the ioctl thread and the poller share it)."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.reader = self.sock.makefile("rb")
        self.lock = threading.Lock()

    def ask(self, **request: Any) -> dict[str, Any]:
        with self.lock:
            self.sock.sendall((json.dumps(request) + "\n").encode())
            line = self.reader.readline()
        if not line:
            raise EOFError("the serve process went away")
        return dict(json.loads(line))


class DapLink:
    """The socket for probe packets: requests go out without waiting, answers come back on a thread."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.reader = self.sock.makefile("rb")
        self.lock = threading.Lock()
        self.next_id = 0

    def send(self, key: str, data: bytes) -> int:
        with self.lock:
            self.next_id += 1
            ident = self.next_id
            self.sock.sendall((json.dumps({"id": ident, "key": key, "data": data.hex()}) + "\n").encode())
        return ident

    def answers(self) -> Any:
        for line in self.reader:
            yield json.loads(line)


class Faces:
    """The twins' USB faces as testbed devices, kept in line with what the serve process reports."""

    def __init__(self, bridge: Bridge, dap: DapLink | None = None) -> None:
        self.bridge = bridge
        self.dap = dap
        #: packet id → ((/dev node, opener), OUT URB, its length, the pipe's epoch when sent)
        self.outs: dict[int, tuple[tuple[str, int], Any, int, int]] = {}
        self.testbed = UMockdev.Testbed.new()
        self.handler = UMockdev.IoctlBase()
        self.handler.connect("handle-ioctl", self._ioctl)
        self.handler.connect("client-vanished", self._vanished)
        self.by_node: dict[str, str] = {}  # /dev node → face key
        #: /dev nodes whose device left, oldest first: their open files still answer (see _remove)
        self.gone: list[str] = []
        self.by_key: dict[str, tuple[str, str]] = {}  # face key → (sysfs path, /dev node)
        self.next_devnum = 2
        #: (/dev node, opener) → completed URBs waiting for REAP. Per opener (one umockdev client per open
        #: file): a URB may only go back to the file it was submitted on (several threads of a program,
        #: or several programs, open the same device at once to read its strings)
        self.reaps: dict[tuple[str, int], list[Any]] = {}
        self.ports: dict[str, int] = {}  # twin name (or probe key) → hub port (stable per twin)
        self.speeds: dict[str, int] = {}  # /dev node → usbfs speed
        self.probes: dict[str, tuple[int, int]] = {}  # /dev node → a debug probe's (OUT, IN) endpoints
        self.pipes: dict[tuple[str, int], Pipe] = {}  # (/dev node, opener) → that opener's bulk pipe
        self.ready: dict[str, Readiness] = {}  # a debug probe's /dev node → its poll state (see module doc)
        #: probe face key → [REAPs that returned a URB, REAPs that found none (EAGAIN), ioctls of any kind]
        self.reap_counts: dict[str, list[int]] = {}
        #: one ioctl at a time (umockdev may call from more than one thread). Not held by the poller: the
        #: testbed's attach/detach may wait for the ioctl thread
        self.lock = threading.Lock()
        self.testbed.add_from_string(
            "P: /devices/usb1\nN: bus/usb/001/001\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DRIVER=usb\n"
            "E: BUSNUM=001\nE: DEVNUM=001\nE: DEVNAME=/dev/bus/usb/001/001\nA: busnum=1\\n\nA: devnum=1\\n\n"
            "A: speed=480\\n\nA: bConfigurationValue=1\\n\nA: idVendor=1d6b\\n\nA: idProduct=0002\\n\n"
            f"H: descriptors={ROOT_HUB}\n"
        )

    @property
    def root(self) -> str:
        return str(self.testbed.get_root_dir())

    # ------------------------------------------------------------------ faces
    def sync(self) -> bool:
        try:
            faces = {f["key"]: f for f in self.bridge.ask(op="faces")["faces"]}
        except (EOFError, OSError, ValueError):
            GLib.idle_add(_quit)
            return False
        for key in [k for k in self.by_key if k not in faces]:
            self._remove(key)
        for key, face in faces.items():
            if key not in self.by_key:
                self._add(key, face)
        return True

    def _devnum(self) -> int:
        """The next free device number, round robin as the kernel hands them out; a number whose device
        left is taken again only when no other is free (its node's files then stop answering ENODEV)."""
        if len(self.by_node) + len(self.gone) >= 126 and self.gone:
            old = self.gone.pop(0)
            self.testbed.detach_ioctl(old)
            with self.lock:
                for chan in [c for c in self.reaps if c[0] == old]:
                    del self.reaps[chan]
                ready = self.ready.pop(old, None)
            if ready is not None:
                ready.close()
        used = {int(node.rsplit("/", 1)[1]) for node in [*self.by_node, *self.gone]}
        while self.next_devnum in used or self.next_devnum < 2:
            self.next_devnum = self.next_devnum % 127 + 1
        devnum, self.next_devnum = self.next_devnum, self.next_devnum % 127 + 1
        return devnum

    def _add(self, key: str, face: dict[str, Any]) -> None:
        dap = face.get("kind") == "dap"
        port = self.ports.setdefault(f"probe:{face['twin']}" if dap else face["twin"], len(self.ports) + 1)
        devnum = self._devnum()
        node = f"/dev/bus/usb/{BUS:03d}/{devnum:03d}"
        speed = int(face.get("speed", 12))
        with self.lock:
            self.by_node[node] = key
            self.speeds[node] = USB_SPEED_HIGH if speed == 480 else USB_SPEED_FULL
            if dap:
                self.probes[node] = (int(face["out_ep"]), int(face["in_ep"]))
        self.testbed.attach_ioctl(node, self.handler)  # before the "add" uevent: programs may open at once
        attrs = {
            "busnum": str(BUS), "devnum": str(devnum), "speed": str(speed), "bConfigurationValue": "1",
            "bNumConfigurations": "1", "idVendor": f"{face['vid']:04x}", "idProduct": f"{face['pid']:04x}",
            "bcdDevice": f"{face['bcd']:04x}", "manufacturer": face["manufacturer"], "product": face["product"],
            "serial": face["serial"], "devpath": str(port), "maxchild": "0",
        }  # fmt: skip
        text = (
            f"P: /devices/usb1/1-{port}\nN: bus/usb/{BUS:03d}/{devnum:03d}\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
            f"E: DRIVER=usb\nE: BUSNUM={BUS:03d}\nE: DEVNUM={devnum:03d}\nE: DEVNAME={node}\n"
            f"E: PRODUCT={face['vid']:x}/{face['pid']:x}/{face['bcd']:x}\n"
            + "".join(f"A: {k}={v}\\n\n" for k, v in attrs.items())
            + f"H: descriptors={face['descriptors']}\n"
        )
        self.testbed.add_from_string(text)
        if dap:
            self.ready[node] = Readiness(self.root + node)
        self.by_key[key] = (f"/sys/devices/usb1/1-{port}", node)

    def _remove(self, key: str) -> None:
        """The device leaves the bus, as usbfs sees a disconnect: every URB still pending on it completes
        with -ESHUTDOWN (the host controller gives them back), files opened on it stay reapable, then
        answer ENODEV to every ioctl (never an unknown ioctl: libusb takes ENOTTY from a reap as an I/O
        error of its event loop and cancels whatever transfer the thread running that loop was waiting on)."""
        syspath, node = self.by_key.pop(key)
        with self.lock:
            self.by_node.pop(node, None)
            for chan, pipe in [(c, p) for c, p in self.pipes.items() if c[0] == node]:
                self.reaps[chan].extend(Done(urb, -errno.ESHUTDOWN, 0) for urb, _room in pipe.pending)
                del self.pipes[chan]
            for ident, (chan, urb, _length, _epoch) in [(i, o) for i, o in self.outs.items() if o[0][0] == node]:
                del self.outs[ident]
                if chan in self.reaps:
                    self.reaps[chan].append(Done(urb, -errno.ESHUTDOWN, 0))
            self.speeds.pop(node, None)
            self.probes.pop(node, None)
            self.gone.append(node)
            # Ready while its openers have what the removal completed to reap, then quiet for good (the
            # module doc: usbfs's POLLERR, on which libusb stops polling the node). Closed when its number
            # is taken again (_devnum).
            self._settle(node)
        # umockdev 0.17 removes the sysfs tree without telling anyone: announce it, as the kernel does.
        # The node keeps its ioctl handler (detached only when its number is reused, see _devnum): a
        # detached node hands its open files' ioctls to the plain testbed file, which says ENOTTY
        self.testbed.uevent(syspath, "remove")
        self.testbed.remove_device(syspath)

    # ------------------------------------------------------------------ usbfs
    def _ioctl(self, handler: Any, client: Any) -> bool:
        with self.lock:
            try:
                return self._ioctl_locked(client)
            finally:
                self._settle(client.get_devnode())

    def _vanished(self, handler: Any, client: Any) -> None:
        """An opener closed its file: its channel goes (a later client may get the same id)."""
        with self.lock:
            ident = _opener(client)
            for chan in [c for c in self.reaps if c[1] == ident]:
                del self.reaps[chan]
            for chan in [c for c in self.pipes if c[1] == ident]:
                del self.pipes[chan]
            self._settle(client.get_devnode())

    def _settle(self, devnode: str) -> None:
        """A probe node polls ready while one of its openers has a URB to reap (or one _deliver will make)."""
        ready = self.ready.get(devnode)
        if ready is None:
            return
        # copies: the poller's _remove drops channels without Faces.lock
        done = any(q for c, q in list(self.reaps.items()) if c[0] == devnode) or any(
            p.pending and p.responses for c, p in list(self.pipes.items()) if c[0] == devnode
        )
        ready.set(done)

    def _pipe(self, chan: tuple[str, int]) -> Pipe | None:
        ends = self.probes.get(chan[0])
        if ends is None:
            return None
        pipe = self.pipes.get(chan)
        if pipe is None:
            pipe = self.pipes[chan] = Pipe(*ends)
        return pipe

    def _ioctl_locked(self, client: Any) -> bool:
        request = client.get_request()
        devnode = client.get_devnode()
        arg = client.get_arg()
        key = self.by_node.get(devnode)
        node = (devnode, _opener(client))  # the opener's channel (see reaps)
        if key is None:  # the device left (see _remove): what was completed first, then ENODEV
            queue = self.reaps.get(node)
            if request in (USBDEVFS_REAPURB, USBDEVFS_REAPURBNDELAY) and queue:
                urb = queue.pop(0)
                arg.resolve(0, 8).set_ptr(0, urb.apply() if isinstance(urb, Done) else urb)
                client.complete(0, 0)
            else:
                client.complete(-1, errno.ENODEV)
            return True
        self.reaps.setdefault(node, [])
        counts = self.reap_counts.setdefault(key, [0, 0, 0]) if devnode in self.ready else None
        if counts is not None:
            counts[2] += 1
        if request == USBDEVFS_GET_CAPABILITIES:
            data = arg.resolve(0, 4)
            caps = USBDEVFS_CAP_ZERO_PACKET | USBDEVFS_CAP_BULK_CONTINUATION | USBDEVFS_CAP_NO_PACKET_SIZE_LIM
            data.update(0, struct.pack("<I", caps))
            client.complete(0, 0)
        elif request == USBDEVFS_SUBMITURB:
            self._submit(client, arg, key, node)
        elif request in (USBDEVFS_REAPURB, USBDEVFS_REAPURBNDELAY):
            pipe = self._pipe(node)
            if pipe is not None:
                self._deliver(node, pipe)
            queue = self.reaps.get(node) or []
            if not queue:
                if counts is not None:
                    counts[1] += 1
                client.complete(-1, errno.EAGAIN)
                return True
            if counts is not None:
                counts[0] += 1
            urb = queue.pop(0)
            if isinstance(urb, Done):
                urb = urb.apply()
            arg.resolve(0, 8).set_ptr(0, urb)
            client.complete(0, 0)
        elif request == USBDEVFS_DISCARDURB:
            pipe = self._pipe(node)
            urb = pipe.discard(bytes(arg.data)) if pipe is not None else None

            if urb is None:
                client.complete(-1, errno.EINVAL)  # completed already (or never ours): nothing to discard
            else:
                urb.update(4, struct.pack("<i", -errno.ENOENT))
                urb.update(28, struct.pack("<i", 0))
                self.reaps[node].append(urb)
                client.complete(0, 0)
        elif request == USBDEVFS_SETINTERFACE:
            interface, alt = struct.unpack("<II", bytes(arg.resolve(0, 8).retrieve()))
            answer = self.bridge.ask(op="altsetting", key=key, interface=interface, alt=alt)
            self._finish(client, answer)
        elif request == USBDEVFS_GETDRIVER:
            client.complete(-1, errno.ENODATA)  # no kernel driver is bound
        elif request == USBDEVFS_CONNECTINFO:
            devnum = int(devnode.rsplit("/", 1)[1])
            arg.resolve(0, 8).update(0, struct.pack("<IB3x", devnum, 0))
            client.complete(0, 0)
        elif request == USBDEVFS_GET_SPEED:
            client.complete(self.speeds.get(devnode, USB_SPEED_FULL), 0)
        elif request == USBDEVFS_CONTROL:
            self._control(client, arg, key)
        elif request in (USBDEVFS_CLAIMINTERFACE, USBDEVFS_RELEASEINTERFACE, USBDEVFS_DISCONNECT_CLAIM,
                         USBDEVFS_SETCONFIGURATION, USBDEVFS_CLEAR_HALT, USBDEVFS_RESET):  # fmt: skip
            pipe = self._pipe(node)
            if pipe is not None and request in (USBDEVFS_CLAIMINTERFACE, USBDEVFS_RELEASEINTERFACE):
                self._reset_pipe(node, pipe)
            alive = self.bridge.ask(op="alive", key=key)
            self._finish(client, alive)
        else:
            return False  # umockdev then fails the ioctl (ENOTTY)
        return True

    def _finish(self, client: Any, answer: dict[str, Any]) -> None:
        error = answer.get("error")
        if error is None:
            client.complete(0, 0)
        else:
            client.complete(-1, errno.EPIPE if error == "pipe" else errno.ENODEV)

    def _submit(self, client: Any, arg: Any, key: str, node: tuple[str, int]) -> None:
        urb = arg.resolve(0, URB_SIZE)
        raw = bytes(urb.retrieve())
        kind, endpoint = raw[0], raw[1]
        length = struct.unpack_from("<i", raw, 24)[0]
        pipe = self._pipe(node)
        if kind == USBDEVFS_URB_TYPE_BULK and pipe is not None:
            self._bulk(client, urb, key, node, pipe, endpoint, length)
            return
        if kind != USBDEVFS_URB_TYPE_CONTROL or endpoint & 0x7F != 0 or length < 8:
            client.complete(-1, errno.EINVAL)
            return
        buf = urb.resolve(16, length)
        data = bytes(buf.retrieve())
        answer = self.bridge.ask(op="ctrl", key=key, setup=data[:8].hex(), data=data[8:].hex())
        error = answer.get("error")
        if error is None:
            reply = bytes.fromhex(answer.get("data", ""))
            if data[0] & 0x80:
                buf.update(8, reply)
                actual = len(reply)
            else:
                actual = length - 8
            status = 0
        else:
            actual = 0
            status = -errno.EPIPE if error == "pipe" else -errno.ENODEV
        urb.update(4, struct.pack("<i", status))
        urb.update(28, struct.pack("<i", actual))
        self.reaps[node].append(urb)
        client.complete(0, 0)

    def _bulk(self, client: Any, urb: Any, key: str, node: tuple[str, int], pipe: Pipe, endpoint: int, length: int) -> None:
        """A bulk URB on a probe's pipe (see module doc)."""
        if endpoint == pipe.in_ep:
            pipe.pending.append((urb, length))
            self._deliver(node, pipe)
            client.complete(0, 0)
            return
        if endpoint != pipe.out_ep:
            client.complete(-1, errno.EINVAL)
            return
        data = bytes(urb.resolve(16, length).retrieve()) if length > 0 else b""
        if data[:1] == bytes([DAP_DISCONNECT]):
            self._write_reap_stats()
        if data and self.dap is not None:  # completed when the probe's answer arrives (_answered)
            self.outs[self.dap.send(key, data)] = (node, urb, length, pipe.epoch)
            client.complete(0, 0)
            return
        # a zero-length packet ends a transfer and carries no command
        urb.update(4, struct.pack("<i", 0))
        urb.update(28, struct.pack("<i", length))
        self.reaps[node].append(urb)
        client.complete(0, 0)

    def _write_reap_stats(self) -> None:
        """For benchmarks: each probe's reap counts so far (a file in the testbed's root, replaced whole)."""
        doc = {key: {"reaps": ok, "empty_reaps": empty, "ioctls": n} for key, (ok, empty, n) in self.reap_counts.items()}
        path = os.path.join(self.root, REAP_STATS)
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.replace(path + ".tmp", path)

    def _reset_pipe(self, node: tuple[str, int], pipe: Pipe) -> None:
        """A program claims or releases the probe's interface: forget URBs and answers of an earlier opener.

        Their addresses belong to a closed file (or a process gone): writing into them at a later
        reap would scribble over whatever the new opener keeps there.
        """
        pipe.pending.clear()
        pipe.responses.clear()
        pipe.epoch += 1
        self.reaps[node] = [u for u in self.reaps.get(node, []) if not isinstance(u, Done)]

    def serve_answers(self) -> None:
        """The DAP socket's reader thread: complete each OUT URB with its answer and queue the response."""
        assert self.dap is not None
        try:
            for answer in self.dap.answers():
                with self.lock:
                    self._answered(answer)
        except (OSError, ValueError):
            pass
        GLib.idle_add(_quit)

    def _answered(self, answer: dict[str, Any]) -> None:
        """Record an answer. The URBs are written when the program next reaps (inside its ioctl): umockdev
        moves a URB's bytes over that client's stream, which only an ioctl in progress may use."""
        out = self.outs.pop(int(answer["id"]), None)
        if out is None or out[0] not in self.reaps or out[0] not in self.pipes or self.pipes[out[0]].epoch != out[3]:
            return  # the device went away, or its opener let go, meanwhile
        node, urb, length, _epoch = out
        status = -errno.ENODEV if answer.get("error") is not None else 0
        if status == 0 and answer.get("reply"):
            self.pipes[node].responses.append(bytes.fromhex(answer["data"]))
        self.reaps[node].append(Done(urb, status, length if status == 0 else 0))
        self._settle(node[0])

    def _deliver(self, node: tuple[str, int], pipe: Pipe) -> None:
        """Complete pending IN URBs with queued responses, oldest first."""
        while pipe.pending and pipe.responses:
            urb, room = pipe.pending.pop(0)
            reply = pipe.responses.pop(0)
            status = 0 if len(reply) <= room else -errno.EOVERFLOW
            reply = reply[:room]
            if reply:
                urb.resolve(16, room).update(0, reply)
            urb.update(4, struct.pack("<i", status))
            urb.update(28, struct.pack("<i", len(reply)))
            self.reaps[node].append(urb)

    def _control(self, client: Any, arg: Any, key: str) -> None:
        """USBDEVFS_CONTROL (synchronous control transfer), used by some programs instead of URBs."""
        raw = bytes(arg.resolve(0, 24).retrieve())
        bm, req, value, index, length = struct.unpack_from("<BBHHH", raw)
        setup = struct.pack("<BBHHH", bm, req, value, index, length)
        payload = arg.resolve(0, 24).resolve(16, length) if length else None
        out = b"" if bm & 0x80 or payload is None else bytes(payload.retrieve())
        answer = self.bridge.ask(op="ctrl", key=key, setup=setup.hex(), data=out.hex())
        if answer.get("error") is not None:
            self._finish(client, answer)
            return
        reply = bytes.fromhex(answer.get("data", ""))
        if bm & 0x80 and payload is not None:
            payload.update(0, reply)
        client.complete(len(reply) if bm & 0x80 else length, 0)


def _opener(client: Any) -> int:
    """The address of the IoctlClient GObject: one per opened file, whatever Python wrapper carries it."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return int(get(client.__gpointer__, None) or 0)


class Done:
    """A URB completed by a probe's answer, written into the program's memory when it is reaped."""

    def __init__(self, urb: Any, status: int, actual: int) -> None:
        self.urb, self.status, self.actual = urb, status, actual

    def apply(self) -> Any:
        self.urb.update(4, struct.pack("<i", self.status))
        self.urb.update(28, struct.pack("<i", self.actual))
        return self.urb


class Readiness:
    """A debug probe's /dev node as a FIFO whose poll() says whether a URB waits to be reaped (module doc).

    The FIFO holds one page: full, it polls not writable (no POLLOUT), as usbfs with nothing completed;
    this helper empties it when a URB completes and fills it again when the last one is reaped. The
    program's own end (opened O_RDWR by libusb) never reads or writes it: umockdev routes the node's
    read() and write() to the ioctl handler, and libusb reads descriptors from sysfs.
    """

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, path: str) -> None:
        tmp = path + ".fifo"
        os.mkfifo(tmp, 0o666)
        self.fd = os.open(tmp, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        fcntl.fcntl(self.fd, fcntl.F_SETPIPE_SZ, self.PAGE)  # the least a pipe holds: one page
        self.lock = threading.Lock()  # set() runs under Faces.lock, close() from the poller
        self.is_ready = True
        self.set(False)
        os.replace(tmp, path)  # atomically instead of umockdev's plain file

    def set(self, ready: bool) -> None:
        with self.lock:
            if ready == self.is_ready or self.fd < 0:
                return
            if ready:
                os.read(self.fd, self.PAGE)
            else:
                try:
                    while True:
                        os.write(self.fd, bytes(self.PAGE))
                except BlockingIOError:
                    pass
            self.is_ready = ready

    def close(self) -> None:
        """Give up this helper's end; what the FIFO holds stays with the program's open files (a full
        one keeps polling not ready, as a removed usbfs node does for libusb, see the module doc)."""
        with self.lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


class Pipe:
    """A debug probe's bulk endpoints: IN URBs waiting for a response, responses waiting for an IN URB."""

    def __init__(self, out_ep: int, in_ep: int) -> None:
        self.out_ep = out_ep
        self.in_ep = in_ep
        self.pending: list[tuple[Any, int]] = []  # (URB, buffer length)
        self.responses: list[bytes] = []
        self.epoch = 0  # counts claims and releases of the interface (see Faces._reset_pipe)

    def discard(self, pointer: bytes) -> Any:
        """Take back the pending URB DISCARDURB names. Its argument is the URB's address itself, which
        PyGObject hands over as a NUL-terminated string: the little-endian bytes up to the first zero
        byte (none at all when the low byte is zero). Matched the same way, so 0x…7100 is found too."""
        for i, (urb, _room) in enumerate(self.pending):
            mine = int(urb.client_addr).to_bytes(8, "little").split(b"\0", 1)[0]
            if mine == pointer[:8].split(b"\0", 1)[0]:
                del self.pending[i]
                return urb
        return None


_LOOP: Any = None


def _quit() -> bool:
    if _LOOP is not None:
        _LOOP.quit()
    return False


def main(argv: list[str] | None = None) -> int:
    global _LOOP
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="socket to the serve process")
    parser.add_argument("--dap-fd", type=int, help="socket for the debug probes' packets")
    parser.add_argument("--poll-ms", type=int, default=100)
    args = parser.parse_args(argv)
    faces = Faces(Bridge(args.fd), DapLink(args.dap_fd) if args.dap_fd is not None else None)
    if faces.dap is not None:
        threading.Thread(target=faces.serve_answers, name="dap-answers", daemon=True).start()
    faces.sync()
    sys.stdout.write(json.dumps({"umockdev_dir": faces.root}) + "\n")
    sys.stdout.flush()
    _LOOP = GLib.MainLoop()
    GLib.timeout_add(args.poll_ms, faces.sync)
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, _quit)
    try:
        _LOOP.run()
    finally:
        # the testbed's temporary root (sysfs, /dev, sockets) goes with the helper
        root = faces.root
        faces.testbed = None
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
