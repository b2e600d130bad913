"""The USB side of a CMSIS-DAP probe: what the station's DAP traffic costs on a real probe.

Without a model (``ideal``) a twin charges SWD wire time only, which no real probe reaches: every
DAP command travels in a USB packet, and the host learns a read's value only when the probe's
answer comes back. This module charges that cost, the way a CMSIS-DAP probe and pyocd incur it:

* **Packing** follows pyocd itself: transfers are packed into DAP_Transfer / DAP_TransferBlock
  commands by pyocd's own ``_Command`` class (``pyocd/probe/pydapaccess/dap_access_cmsis_dap.py``;
  its docstrings lay out both packets: a block write carries ``(packet - 5) // 4`` words, a block
  read returns ``(packet - 4) // 4``), with the packet size of the probe's endpoints.
* **Pace**: a CMSIS-DAP v1 probe is a HID device; its interrupt endpoints move one 64-byte report
  per 1 ms frame each way (bInterval 1 at full speed). A v2 probe uses bulk endpoints: at most 19
  64-byte transactions per 1 ms frame at full speed and 13 512-byte ones per 125 µs microframe at
  high speed (USB 2.0 specification §5.8.4, tables 5-9 and 5-10). The probe runs one command's SWD
  transfers while the next command is on the bus, so a command costs the larger of its USB slot
  and its SWD wire time.
* **Waiting**: the host sends commands without waiting (pyocd queues them) until it needs a
  value: a read asked for now, a deferred read's result, a ``flush``. Then it waits for the answer,
  which comes back in a later (micro)frame: one frame (1 ms) at full speed, one microframe
  (125 µs) at high speed. Control commands (connect, clock, SWJ sequence, reset pin) are answered
  before pyocd goes on, so each is a command plus a wait.

pyocd reads back only the packets up to the one holding the value it needs; this model settles
every outstanding packet at each wait, which is what ``flush`` does and differs at most by the
commands in flight (pyocd keeps at most the probe's packet count outstanding; the model assumes
the probe buffers at least two, as pipelined streaming needs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from station.sim.clock import SWD_BITS_PER_TRANSFER, DeviceClock


@dataclass(frozen=True)
class UsbProbe:
    """One kind of CMSIS-DAP probe, as far as its USB link sets the pace."""

    name: str
    description: str
    packet_bytes: int  # DAP packet size = the endpoints' max packet size
    frame_s: float  # USB frame (full speed) or microframe (high speed)
    packets_per_frame: int  # DAP packets one direction can move per (micro)frame

    @property
    def slot_s(self) -> float:
        """The shortest spacing of two command packets on the bus."""
        return self.frame_s / self.packets_per_frame

    @property
    def reply_s(self) -> float:
        """How long after its command the host sees a reply, at the earliest."""
        return self.frame_s


IDEAL = "ideal"
PROBE_MODELS: dict[str, UsbProbe] = {
    p.name: p
    for p in (
        UsbProbe("cmsis-dap-v1-fs", "CMSIS-DAP v1 (HID), USB full speed: one 64-byte report per 1 ms frame",
                 64, 1e-3, 1),
        UsbProbe("cmsis-dap-v2-fs", "CMSIS-DAP v2 (bulk), USB full speed: up to 19 64-byte packets per 1 ms frame",
                 64, 1e-3, 19),
        UsbProbe("cmsis-dap-v2-hs", "CMSIS-DAP v2 (bulk), USB high speed: up to 13 512-byte packets per 125 us",
                 512, 125e-6, 13),
    )
}  # fmt: skip
#: every name ``station sim create --probe`` accepts; ``ideal`` charges SWD wire time only
PROBE_CHOICES = (IDEAL, *PROBE_MODELS)

# pyocd's transfer request bits (dap_access_cmsis_dap.py: AP_ACC, READ; A2/A3 are the register)
_AP_ACC = 1 << 0
_READ = 1 << 1


def probe_model(name: str) -> UsbProbe | None:
    """The model called ``name`` (None for ``ideal``); a clear error for an unknown name."""
    if name == IDEAL:
        return None
    try:
        return PROBE_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown probe model {name!r} (known: {', '.join(PROBE_CHOICES)})") from None


class DapPacer:
    """Charges one twin's device clock for DAP traffic as a probe of ``model`` would move it."""

    def __init__(self, model: UsbProbe, clock: DeviceClock) -> None:
        from pyocd.probe.pydapaccess.dap_access_cmsis_dap import _Command

        self.model = model
        self.clock = clock
        self._new_command = lambda: _Command(model.packet_bytes)
        self._cmd = self._new_command()
        self._cmd_transfers = 0
        self._unanswered = False  # commands sent since the host last waited for an answer
        self.stats = {"packets": 0, "waits": 0}

    def transfer(self, *, ap: bool, read: bool, register: int, count: int, hz: float) -> None:
        """``count`` transfers to one DP/AP register (a block when count > 1), queued as pyocd queues them."""
        request = (_AP_ACC if ap else 0) | (_READ if read else 0) | (register & 0x0C)
        left = count
        while left > 0:
            room = self._cmd.get_request_space(left, request, 0)
            if room == 0:
                self._send(hz)
                continue
            self._cmd.add(room, request, None, 0)
            self._cmd_transfers += room
            left -= room
            if self._cmd.get_full():
                self._send(hz)

    def wait(self, hz: float) -> None:
        """The host needs an answer: send what is queued and wait for the reply."""
        if not self._cmd.get_empty():
            self._send(hz)
        if self._unanswered:
            self._unanswered = False
            self.stats["waits"] += 1
            self.clock.advance(self.model.reply_s)

    def command(self, hz: float, transfers: int = 0) -> None:
        """A control command (DAP_Connect, DAP_SWJ_Clock, DAP_SWJ_Sequence, reset pin): one packet, answered."""
        self.wait(hz)
        self._packet(transfers, hz)
        self.wait(hz)

    def _send(self, hz: float) -> None:
        n, self._cmd_transfers = self._cmd_transfers, 0
        self._cmd = self._new_command()
        self._packet(n, hz)

    def _packet(self, transfers: int, hz: float) -> None:
        self.stats["packets"] += 1
        self._unanswered = True
        wire = transfers * SWD_BITS_PER_TRANSFER / hz
        self.clock.advance(max(self.model.slot_s, wire))


def block_words_per_packet(model: UsbProbe, *, read: bool) -> int:
    """Words one DAP_TransferBlock packet carries (pyocd ``_Command._get_free_transfers``)."""
    return (model.packet_bytes - (4 if read else 5)) // 4


def block_packets(model: UsbProbe, words: int, *, read: bool) -> int:
    return math.ceil(words / block_words_per_packet(model, read=read))
