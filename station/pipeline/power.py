"""What a power-up would make the device do, as the run changes its flash (issue 10 item 1).

The run keeps the boot gate (:mod:`station.firmware.boot_gate`) closed whenever what Device OS
would run is incomplete or unproven, so a pulled cable or a failed write leaves a device that
stays in its bootloader. :class:`PowerState` is what the station knows at each moment; when a
run ends without a pass in a state where a power-up would connect, and the station could not
close the gate again, the attempt says so (:data:`station.domain.UNSAFE_TO_POWER`).
"""

from __future__ import annotations

import enum

from station.domain import UNSAFE_TO_POWER


class PowerState(enum.StrEnum):
    #: the run has not changed the device's flash: it does at power-up what it did when it arrived
    AS_FOUND = "as-found"
    #: the boot gate is closed: the bootloader stays in DFU, nothing can connect
    CLOSED = "closed"
    #: the gate is open on the verified MANUAL-mode factory-test firmware: it runs and does not connect
    TEST = "test"
    #: the gate page is being written with the product behind it: it may or may not be open
    OPENING = "opening"
    #: the gate is open on the proven product firmware: a power-up runs it, and it connects
    PRODUCT = "product"

    @property
    def would_connect(self) -> bool:
        return self in (PowerState.OPENING, PowerState.PRODUCT)


def unsafe_reason(reason: str | None) -> str:
    """The attempt's reason for a device the station lost while a power-up would make it connect."""
    why = f": {reason}" if reason else ""
    return f"{UNSAFE_TO_POWER} (it holds the product firmware, which connects at power-up, and the station " \
           f"could not disable it again){why}"


def is_unsafe(reason: str | None) -> bool:
    return bool(reason) and str(reason).startswith(UNSAFE_TO_POWER)
