"""pyocd's own CMSIS-DAP driver wired to a twin's probe firmware in process: the packets are the seam.

:class:`PacketLink` is a pyocd ``Interface`` (the layer pyocd's USB backends implement) whose
``write`` hands the packet to :class:`station.sim.cmsis_dap.DapProcessor` and whose ``read`` returns
the response, in order. Everything above it is pyocd's unmodified code: ``DAPAccessCMSISDAP``
(packing into DAP_Transfer / DAP_TransferBlock, deferred reads, the packet-count window) and
``CMSISDAPProbe``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyocd.core.session import Session
from pyocd.probe.cmsis_dap_probe import CMSISDAPProbe
from pyocd.probe.pydapaccess.dap_access_cmsis_dap import DAPAccessCMSISDAP
from pyocd.probe.pydapaccess.interface.interface import Interface

from station.sim.cmsis_dap import USB_PID, USB_VID, DapProcessor
from station.sim.device import Twin


class PacketLink(Interface):  # type: ignore[misc]
    def __init__(self, processor: DapProcessor) -> None:
        super().__init__()
        self.processor = processor
        self.vid, self.pid = USB_VID, USB_PID
        self.vendor_name, self.product_name = "Station", "Station twin CMSIS-DAP"
        self.serial_number = processor.twin.identity.probe_uid
        self.packet_size = processor.packet_size
        self.responses: collections.deque[bytes] = collections.deque()
        self.writes = 0
        self.opened = False

    @property
    def is_bulk(self) -> bool:
        return True

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.opened = False

    def write(self, data: Any) -> None:
        self.writes += 1
        reply = self.processor.execute(bytes(data))
        if reply:
            self.responses.append(reply)

    def read(self) -> bytes:
        return self.responses.popleft()


def pyocd_probe(twin: Twin, **kwargs: Any) -> tuple[CMSISDAPProbe, PacketLink]:
    link = PacketLink(DapProcessor(twin, **kwargs))
    return CMSISDAPProbe(DAPAccessCMSISDAP(None, interface=link)), link


@contextmanager
def dap_session(twin: Twin, project_dir: Path, **kwargs: Any) -> Iterator[tuple[Session, PacketLink]]:
    probe, link = pyocd_probe(twin, **kwargs)
    options = {"auto_unlock": False, "resume_on_disconnect": False, "frequency": 8_000_000}
    s = Session(probe, options=options, target_override="nrf52840", project_dir=str(project_dir), no_config=True)
    with s:
        yield s, link
