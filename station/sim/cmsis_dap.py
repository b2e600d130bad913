"""The firmware of a twin's CMSIS-DAP v2 probe: one command packet in, its response packet out.

This is the seam a real USB probe offers: the host sends DAP command packets over a bulk OUT
endpoint and reads response packets from bulk IN. Putting the twin behind it (rather than behind
pyocd's Python probe API) means the station runs pyocd's own CMSIS-DAP driver
(``pyocd/probe/pydapaccess/dap_access_cmsis_dap.py``: packing, deferred reads, the packet-count
window) exactly as on a line with real probes, and only packets cross into the twin.

Command and field layouts are ARM's CMSIS-DAP reference
(https://arm-software.github.io/CMSIS-DAP/latest/, "Commands": DAP_Info, DAP_HostStatus,
DAP_Connect, DAP_Disconnect, DAP_WriteABORT, DAP_Delay, DAP_ResetTarget, DAP_SWJ_Pins,
DAP_SWJ_Clock, DAP_SWJ_Sequence, DAP_SWD_Configure, DAP_SWD_Sequence, DAP_TransferConfigure,
DAP_Transfer, DAP_TransferBlock, DAP_TransferAbort); the codes and the response checks a host
applies are those in pyocd's ``cmsis_dap_core.py``. The facts that shape behaviour:

* DAP_Transfer stops at the first transfer that fails (FAULT, WAIT beyond the configured retry
  count, no ACK, or a value mismatch); the response's count is the transfers that completed and
  its response byte the failing ACK (bits 2:0, OK=1 WAIT=2 FAULT=4 no-ACK=7) plus bit 4 for a value
  mismatch. A read with Value Match repeats until ``value & mask == match`` up to Match Retry
  times and returns no data; a write with Match Mask sets the mask and touches no register.
* DAP_TransferBlock repeats one request ``count`` times (u16) with the same stop rule.
* DAP_TransferConfigure sets idle cycles, WAIT retry and Match retry (pyocd sends 2/150/0).
* DAP_TransferAbort has no response; an unknown command answers the single byte 0xFF.
* DAP_SWJ_Pins bit 7 is nRESET (active low); its response is the pins' input state.

The target side is the twin's :class:`~station.sim.dap.DebugPort`, reached under the twin's
lock once per packet. When the board is unplugged or the SWD cable is off, the probe is still
on USB but the wire answers nothing: transfers answer no-ACK, as a real probe does. Injected
faults (``swd_fault_rate``, ``swd_wait_rate``) act per AP transfer, like
:class:`station.sim.probe.SimProbe`; a WAIT is retried here, inside the probe, as CMSIS-DAP
firmware does.

**Time.** Each packet costs the twin's clock what it costs on the probe model's USB link
(:mod:`station.sim.probe_usb`): the larger of its bus slot and its SWD wire time, plus one reply
latency when the host waits for it. The host waits (pyocd's ``flush``) after every control command
and after a transfer packet it sent before it was full; a full packet means pyocd is streaming
(it sends one because the next transfer did not fit) and reads its answer later, while newer
packets are in flight. That is :class:`~station.sim.probe_usb.DapPacer`'s rule, seen from the probe
side; it counts one wait too many where pyocd sends a non-full packet because the next request
could not share it (a block of another kind). With ``ideal`` only SWD wire time is charged.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from station.sim.clock import DEFAULT_SWD_HZ, SWD_BITS_PER_TRANSFER
from station.sim.dap import STICKYERR, BusFault
from station.sim.device import Twin
from station.sim.probe_usb import UsbProbe, probe_model

# command IDs (pyocd cmsis_dap_core.Command)
DAP_INFO, DAP_HOST_STATUS, DAP_CONNECT, DAP_DISCONNECT = 0x00, 0x01, 0x02, 0x03
DAP_TRANSFER_CONFIGURE, DAP_TRANSFER, DAP_TRANSFER_BLOCK, DAP_TRANSFER_ABORT = 0x04, 0x05, 0x06, 0x07
DAP_WRITE_ABORT, DAP_DELAY, DAP_RESET_TARGET = 0x08, 0x09, 0x0A
DAP_SWJ_PINS, DAP_SWJ_CLOCK, DAP_SWJ_SEQUENCE, DAP_SWD_CONFIGURE = 0x10, 0x11, 0x12, 0x13
DAP_SWD_SEQUENCE = 0x1D
DAP_INVALID = 0xFF
DAP_OK, DAP_ERROR = 0x00, 0xFF

# DAP_Info IDs
INFO_VENDOR, INFO_PRODUCT, INFO_SERIAL, INFO_PROTOCOL_VERSION = 0x01, 0x02, 0x03, 0x04
INFO_FIRMWARE_VERSION = 0x09
INFO_CAPABILITIES, INFO_PACKET_COUNT, INFO_PACKET_SIZE = 0xF0, 0xFE, 0xFF
CAP_SWD, CAP_SWD_SEQUENCE = 0x01, 0x20

# transfer request bits and response ACKs
REQ_APNDP, REQ_RNW, REQ_MATCH_VALUE, REQ_MATCH_MASK, REQ_TIMESTAMP = 0x01, 0x02, 0x10, 0x20, 0x80
ACK_OK, ACK_WAIT, ACK_FAULT, ACK_NO_ACK = 1, 2, 4, 7
VALUE_MISMATCH = 0x10

PIN_NRESET = 1 << 7
PORT_DEFAULT, PORT_SWD = 0, 1

#: the USB identity the probe is published under: NXP's MCU-Link (a CMSIS-DAP v2 probe family on high-speed
#: USB), as pyocd lists it among known CMSIS-DAP probes (``NXP_MCULINK_ID`` in
#: ``pyocd/probe/pydapaccess/interface/common.py``). A real family's ID, so pyocd's discovery treats it like one.
USB_VID, USB_PID = 0x1FC9, 0x0143
PROTOCOL_VERSION = "2.1.0"
FIRMWARE_VERSION = "station-twin 1"
#: packets the probe buffers (DAP_Info packet count); pyocd keeps at most this many in flight. A choice, not a
#: measurement: enough for pyocd to stream, which the timing rule below assumes
PACKET_COUNT = 8


class _Stop(Exception):
    """A transfer failed; the packet stops here with ``ack`` (and the mismatch bit, if any)."""

    def __init__(self, response: int) -> None:
        super().__init__(response)
        self.response = response


@dataclass
class DapStats:
    """What crossed the seam: packets by kind, SWD transfers on the wire, waits, and failures answered."""

    packets: int = 0
    transfer_packets: int = 0
    transfers: int = 0
    host_waits: int = 0
    wait_acks: int = 0
    faults: int = 0
    refused: int = 0
    no_ack: int = 0
    by_command: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if k != "by_command"}
        out["by_command"] = {f"{k:#04x}": v for k, v in sorted(self.by_command.items())}
        return out


class DapProcessor:
    """One twin's probe firmware. Not thread safe: one USB pipe feeds it, packet by packet."""

    def __init__(self, twin: Twin, *, model_name: str | None = None) -> None:
        """``model_name``: the probe model to charge time by (default: the twin's, ``station sim create --probe``)."""
        self.twin = twin
        model = probe_model(model_name if model_name is not None else twin.current_state().probe_model)
        self.model: UsbProbe | None = model
        self.packet_size = model.packet_bytes if model is not None else 512
        self.packet_count = PACKET_COUNT
        self.clock_hz: float = DEFAULT_SWD_HZ
        self.wait_retry = 150
        self.match_retry = 0
        self.match_mask = 0xFFFFFFFF
        self.reset_asserted = False
        self.connected = False
        self.stats = DapStats()
        self._rng = random.Random(twin.identity.deviceid0)
        self._chip: Any = None
        self._handlers: dict[int, Callable[[memoryview], bytes]] = {
            DAP_INFO: self._info, DAP_HOST_STATUS: self._ok_after(2), DAP_CONNECT: self._connect,
            DAP_DISCONNECT: self._disconnect, DAP_TRANSFER_CONFIGURE: self._transfer_configure,
            DAP_TRANSFER: self._transfer, DAP_TRANSFER_BLOCK: self._transfer_block,
            DAP_WRITE_ABORT: self._write_abort, DAP_DELAY: self._delay, DAP_RESET_TARGET: self._reset_target,
            DAP_SWJ_PINS: self._swj_pins, DAP_SWJ_CLOCK: self._swj_clock, DAP_SWJ_SEQUENCE: self._swj_sequence,
            DAP_SWD_CONFIGURE: self._ok_after(1), DAP_SWD_SEQUENCE: self._swd_sequence,
        }  # fmt: skip

    # ------------------------------------------------------------------ the seam
    def execute(self, packet: bytes) -> bytes:
        """The response to one command packet (empty for DAP_TransferAbort, which has none)."""
        if not packet:
            return bytes([DAP_INVALID])
        command = packet[0]
        self.stats.packets += 1
        self.stats.by_command[command] = self.stats.by_command.get(command, 0) + 1
        if command == DAP_TRANSFER_ABORT:
            return b""  # nothing is ever in progress when a packet arrives: the previous one has completed
        handler = self._handlers.get(command)
        if handler is None:
            return bytes([DAP_INVALID])
        try:
            return handler(memoryview(packet))
        except (IndexError, struct.error):  # a packet shorter than its command: what the firmware does is undefined
            return bytes([command, DAP_ERROR])

    # ------------------------------------------------------------------ time
    def _charge(self, transfers: int, *, waited: bool) -> None:
        wire = transfers * SWD_BITS_PER_TRANSFER / self.clock_hz
        clock = self.twin.clock
        if self.model is None:
            if transfers:
                clock.swd_transfers(transfers, self.clock_hz)
            return
        cost = max(self.model.slot_s, wire)
        if waited:
            self.stats.host_waits += 1
            cost += self.model.reply_s
        clock.advance(cost)

    def _control(self, reply: bytes, transfers: int = 0) -> bytes:
        self._charge(transfers, waited=True)
        return reply

    # ------------------------------------------------------------------ simple commands
    def _ok_after(self, nbytes: int) -> Callable[[memoryview], bytes]:
        def handler(p: memoryview) -> bytes:
            if len(p) < 1 + nbytes:
                return bytes([p[0], DAP_ERROR])
            return self._control(bytes([p[0], DAP_OK]))

        return handler

    def _info(self, p: memoryview) -> bytes:
        which = p[1]
        value: bytes
        if which == INFO_VENDOR:
            value = b"Station\0"
        elif which == INFO_PRODUCT:
            value = b"Station twin CMSIS-DAP\0"
        elif which == INFO_SERIAL:
            value = self.twin.identity.probe_uid.encode() + b"\0"
        elif which == INFO_PROTOCOL_VERSION:
            value = PROTOCOL_VERSION.encode() + b"\0"
        elif which == INFO_FIRMWARE_VERSION:
            value = FIRMWARE_VERSION.encode() + b"\0"
        elif which == INFO_CAPABILITIES:
            value = bytes([CAP_SWD | CAP_SWD_SEQUENCE])
        elif which == INFO_PACKET_COUNT:
            value = bytes([self.packet_count])
        elif which == INFO_PACKET_SIZE:
            value = struct.pack("<H", self.packet_size)
        else:
            value = b""  # not provided (target/board names, SWO, UART, test domain timer)
        return self._control(bytes([DAP_INFO, len(value)]) + value)

    def _connect(self, p: memoryview) -> bytes:
        port = p[1] if len(p) > 1 else PORT_DEFAULT
        if port not in (PORT_DEFAULT, PORT_SWD):
            return self._control(bytes([DAP_CONNECT, 0]))  # JTAG is not wired on the fixture
        self.connected = True
        return self._control(bytes([DAP_CONNECT, PORT_SWD]))

    def _disconnect(self, p: memoryview) -> bytes:
        self.connected = False
        return self._control(bytes([DAP_DISCONNECT, DAP_OK]))

    def _transfer_configure(self, p: memoryview) -> bytes:
        _idle, self.wait_retry, self.match_retry = struct.unpack_from("<BHH", p, 1)
        return self._control(bytes([DAP_TRANSFER_CONFIGURE, DAP_OK]))

    def _swj_clock(self, p: memoryview) -> bytes:
        (hz,) = struct.unpack_from("<I", p, 1)
        if hz == 0:
            return self._control(bytes([DAP_SWJ_CLOCK, DAP_ERROR]))
        self.clock_hz = float(hz)
        return self._control(bytes([DAP_SWJ_CLOCK, DAP_OK]))

    def _swj_sequence(self, p: memoryview) -> bytes:
        bits = p[1] or 256
        if len(p) < 2 + (bits + 7) // 8:
            return bytes([DAP_SWJ_SEQUENCE, DAP_ERROR])
        # A line reset / JTAG-to-SWD switch: the DP keeps its state (sticky flags survive a line reset).
        return self._control(bytes([DAP_SWJ_SEQUENCE, DAP_OK]), max(1, bits // SWD_BITS_PER_TRANSFER))

    def _swd_sequence(self, p: memoryview) -> bytes:
        count, pos, out, cycles = p[1], 2, bytearray(), 0
        for _ in range(count):
            info = p[pos]
            pos += 1
            n = (info & 0x3F) or 64
            cycles += n
            if info & 0x80:
                out += b"\xff" * ((n + 7) // 8)  # SWDIO has a pull-up: an undriven line reads 1
            else:
                pos += (n + 7) // 8
        return self._control(bytes([DAP_SWD_SEQUENCE, DAP_OK]) + out, max(1, cycles // SWD_BITS_PER_TRANSFER))

    def _delay(self, p: memoryview) -> bytes:
        (us,) = struct.unpack_from("<H", p, 1)
        self.twin.clock.advance(us * 1e-6)
        return self._control(bytes([DAP_DELAY, DAP_OK]))

    def _reset_target(self, p: memoryview) -> bytes:
        # Execute = 0: no device-specific reset sequence is implemented (the host then resets itself).
        return self._control(bytes([DAP_RESET_TARGET, DAP_OK, 0]))

    def _swj_pins(self, p: memoryview) -> bytes:
        output, select = p[1], p[2]
        if select & PIN_NRESET:
            asserted = not output & PIN_NRESET
            with self.twin.lock:
                chip = self._target()
                if chip is not None:
                    chip.hold_reset(asserted)
            self.reset_asserted = asserted
        pins = (0 if self.reset_asserted else PIN_NRESET) | 0x03  # SWCLK, SWDIO idle high
        return self._control(bytes([DAP_SWJ_PINS, pins]))

    # ------------------------------------------------------------------ the target
    def _target(self) -> Any:
        """The chip, or None when the wire reaches nothing (board unplugged, cable off, chip gone)."""
        st = self.twin.current_state()
        if not (st.plugged and st.probe_attached):
            self._chip = None
            return None
        if self._chip is None or self._chip.gone:
            from station.sim.chip import chip_for

            self._chip = chip_for(self.twin)
            self._chip.resync()
        chip = self._chip
        chip.refresh_faults()
        return chip

    def _rates(self) -> tuple[float, float]:
        faults = self.twin.current_faults()
        return faults.swd_fault_rate or 0.0, faults.swd_wait_rate or 0.0

    def _wire(self, chip: Any, fault_rate: float, wait_rate: float) -> None:
        """One AP request's ACK phase: WAITs retried up to the configured count, or an injected FAULT."""
        if wait_rate:
            tries = 0
            while self._rng.random() < wait_rate:
                self.stats.wait_acks += 1
                self.stats.transfers += 1
                tries += 1
                if tries > self.wait_retry:
                    raise _Stop(ACK_WAIT)
        if fault_rate and self._rng.random() < fault_rate:
            self.stats.faults += 1
            chip.dap.ctrl_stat |= STICKYERR
            raise _Stop(ACK_FAULT)

    def _one(self, chip: Any, request: int, value: int, rates: tuple[float, float]) -> int:
        """One register access on the wire; its read value (0 for writes)."""
        ap, read, reg = bool(request & REQ_APNDP), bool(request & REQ_RNW), request & 0x0C
        dap = chip.dap
        self.stats.transfers += 1
        if dap.refuses(ap=ap, write=not read, reg=reg):
            self.stats.refused += 1
            raise _Stop(ACK_FAULT)
        try:
            if ap:
                self._wire(chip, *rates)
                if read:
                    return int(dap.read_ap(reg))
                dap.write_ap(reg, value)
                return 0
            if read:
                return int(dap.read_dp(reg))
            dap.write_dp(reg, value)
            return 0
        except BusFault:
            raise _Stop(ACK_FAULT) from None

    # ------------------------------------------------------------------ DAP_Transfer
    def _transfer(self, p: memoryview) -> bytes:
        count = p[2]
        waited = self._waited(request_bytes=len(p), reads=_reads_requested(p, count), block=False)
        pos, done, data = 3, 0, bytearray()
        response = ACK_OK
        executed = 0
        with self.twin.lock:
            chip = self._target()
            rates = self._rates()
            for _ in range(count):
                request = p[pos]
                pos += 1
                read = request & REQ_RNW
                word = 0
                if not read or request & REQ_MATCH_VALUE:
                    (word,) = struct.unpack_from("<I", p, pos)
                    pos += 4
                if chip is None:
                    self.stats.no_ack += 1
                    response = ACK_NO_ACK
                    break
                try:
                    if not read and request & REQ_MATCH_MASK:
                        self.match_mask = word  # no wire access
                    elif read and request & REQ_MATCH_VALUE:
                        executed += self._match(chip, request, word, rates)
                    else:
                        value = self._one(chip, request, word, rates)
                        executed += 1
                        if read:
                            data += struct.pack("<I", value & 0xFFFFFFFF)
                except _Stop as stop:
                    executed += 1
                    response = stop.response
                    break
                done += 1
        self.stats.transfer_packets += 1
        self._charge(executed, waited=waited)
        return bytes([DAP_TRANSFER, done, response]) + bytes(data)

    def _match(self, chip: Any, request: int, match: int, rates: tuple[float, float]) -> int:
        """A read repeated until it matches; the wire accesses it took. Raises _Stop on mismatch."""
        tries = 0
        while True:
            value = self._one(chip, request & ~REQ_MATCH_VALUE, 0, rates)
            tries += 1
            if value & self.match_mask == match & self.match_mask:
                return tries
            if tries > self.match_retry:
                raise _Stop(ACK_OK | VALUE_MISMATCH)

    # ------------------------------------------------------------------ DAP_TransferBlock
    def _transfer_block(self, p: memoryview) -> bytes:
        count, request = struct.unpack_from("<HB", p, 2)
        read = bool(request & REQ_RNW)
        ap, reg = bool(request & REQ_APNDP), request & 0x0C
        done, response, data = 0, ACK_OK, b""
        executed = 0
        with self.twin.lock:
            chip = self._target()
            if chip is None:
                self.stats.no_ack += 1
                response = ACK_NO_ACK
            elif ap and count > 1 and not (chip.dap.ctrl_stat & STICKYERR) and not any(self._rates()):
                # The fast path the DebugPort offers (packed memory blocks); it falls back word by word itself.
                try:
                    if read:
                        data = struct.pack(f"<{count}I", *chip.dap.read_ap_multiple(reg, count))
                    else:
                        chip.dap.write_ap_multiple(reg, list(struct.unpack_from(f"<{count}I", p, 5)))
                    done = executed = count
                    self.stats.transfers += count
                except BusFault:
                    # The block faulted somewhere inside; it is reported as failing at its first word (pyocd
                    # drops a failed packet's data either way, and the DP now refuses until ABORT).
                    done = executed = 0
                    self.stats.transfers += 1
                    response = ACK_FAULT
            else:
                out = bytearray()
                rates = self._rates()
                for i in range(count):
                    word = 0 if read else struct.unpack_from("<I", p, 5 + 4 * i)[0]
                    try:
                        value = self._one(chip, request & 0x0F, word, rates)
                    except _Stop as stop:
                        executed += 1
                        response = stop.response
                        break
                    executed += 1
                    done += 1
                    if read:
                        out += struct.pack("<I", value & 0xFFFFFFFF)
                data = bytes(out)
        self.stats.transfer_packets += 1
        request_bytes = 5 + (0 if read else 4 * count)
        self._charge(executed, waited=self._waited(request_bytes=request_bytes, reads=count if read else 0, block=True))
        return struct.pack("<BHB", DAP_TRANSFER_BLOCK, done, response) + data

    def _waited(self, *, request_bytes: int, reads: int, block: bool) -> bool:
        """Whether pyocd waits for this transfer packet: it sent it before it was full (see module doc).

        Full, as pyocd's ``_Command.get_full`` decides: no room for one more read or one more write.
        """
        size = self.packet_size
        if block:
            room_read = (size - 4 - 4 * reads) // 4
            room_write = (size - request_bytes) // 4
        else:
            room_read = min(size - request_bytes, (size - 3 - 4 * reads) // 4)
            room_write = (size - request_bytes) // 5
        return room_read > 0 and room_write > 0

    # ------------------------------------------------------------------ DAP_WriteABORT
    def _write_abort(self, p: memoryview) -> bytes:
        (value,) = struct.unpack_from("<I", p, 2)
        with self.twin.lock:
            chip = self._target()
            if chip is None:
                self.stats.no_ack += 1
                return self._control(bytes([DAP_WRITE_ABORT, DAP_ERROR]))
            chip.dap.write_dp(0x0, value)  # ABORT is the write side of DP address 0 on an SW-DP
            self.stats.transfers += 1
        return self._control(bytes([DAP_WRITE_ABORT, DAP_OK]), 1)


def _reads_requested(p: memoryview, count: int) -> int:
    """Read requests in a DAP_Transfer packet (each one's 4 bytes are reserved in the response)."""
    pos, reads = 3, 0
    for _ in range(count):
        request = p[pos]
        pos += 1
        if request & REQ_RNW:
            reads += 1
            if request & REQ_MATCH_VALUE:
                pos += 4
        else:
            pos += 4
    return reads
