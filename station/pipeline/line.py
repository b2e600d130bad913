"""Run a whole station: prepare the shared job once, then every slot in its own thread (or worker process).

Preparing is where input errors surface (profile, firmware, cache, registry): before any device is
touched, so the CLI can exit 2 with nothing flashed. Slots then run in parallel
(:mod:`station.pipeline.handle`); a slot's failure never stops the others. A slot's work runs in a
thread of this process or, past one slot, in a worker process of its own (the default ``auto`` of
:mod:`station.pipeline.runner`): real probes spend their time in USB I/O, which releases the GIL,
but the station's own Python holds it about 1 s per device, and 8 slots in threads took 1.50× one
slot against 1.13× in workers (issue 16). pyocd's process-wide state is handled in
:mod:`station.hw.swd`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station import settings
from station.domain import Transport
from station.errors import ConfigError
from station.firmware.cache import FirmwareCache
from station.ftest.context import AskOperator, never_answer
from station.pipeline.context import SlotContext
from station.pipeline.events import EventSink, null_sink
from station.pipeline.firmware_set import resolve_firmware
from station.pipeline.job import Job, SlotResult
from station.pipeline.swd_flow import provision_swd
from station.pipeline.usb_flow import provision_usb
from station.profile.load import load_profile
from station.store.registry import Registry


@dataclass(frozen=True)
class SlotSpec:
    name: str
    transport: Transport
    target: str  # probe unique ID (SWD) or device ID (USB)


def slug(text: str) -> str:
    """Lowercase letters, digits and dashes: safe in file names, URLs and shell commands."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "lot"


def default_lot_name(product: str, station: str, today: dt.date | None = None) -> str:
    """``<product>-<YYYYMMDD>-<station>``: one lot per product, day and station unless named."""
    day = (today or dt.date.today()).strftime("%Y%m%d")
    return f"{slug(product)}-{day}-{slug(station)}"


def prepare_job(
    *,
    profile_path: str | Path,
    cache: FirmwareCache,
    registry: Registry,
    station: str,
    operator: str,
    lot: str | None = None,
    sink: EventSink = null_sink,
    ask_operator: AskOperator = never_answer,
    labels_dir: Path | None = None,
    recover_confirmed_by: str | None = None,
    swd_frequency: int = 4_000_000,
    slot_workers: str | None = None,
) -> Job:
    """Load and check everything a run needs; raises InputError before touching a device."""
    profile = load_profile(profile_path)
    firmware = resolve_firmware(profile, cache)
    product_id = registry.ensure_product(
        name=profile.product,
        platform=profile.platform.name,
        particle_product=profile.cloud.particle_product,
        peridio_product_prn=profile.cloud.peridio_product_prn,
    )
    profile_id = registry.ensure_profile(
        product_id=product_id, path=str(profile.path), sha256=profile.sha256, content=profile.text
    )
    lot_name = lot or default_lot_name(profile.product, station)
    lot_id = registry.ensure_lot(lot_name, product_id=product_id)
    # This process's lease on the station name (the registry closes attempts of dead processes).
    registry.hold_station(station)
    return Job(
        profile=profile,
        firmware=firmware,
        registry=registry,
        product_id=product_id,
        profile_id=profile_id,
        lot_id=lot_id,
        lot_name=lot_name,
        station=station,
        operator=operator,
        ask_operator=ask_operator,
        labels_dir=labels_dir,
        recover_confirmed_by=recover_confirmed_by,
        sink=sink,
        swd_frequency=swd_frequency,
        slot_workers=slot_workers or str(settings.get("slot_workers")),
    )


def run_slot(job: Job, slot: SlotSpec, ctx: SlotContext | None = None) -> SlotResult:
    """One slot's run in the calling thread (a :class:`~station.pipeline.handle.RunHandle` gives each its own)."""
    if slot.transport is Transport.SWD:
        return provision_swd(job, slot.name, slot.target, ctx)
    return provision_usb(job, slot.name, slot.target, ctx)


def no_slots_text() -> str:
    """Why nothing was found, with the one hint that fits: real hardware, or the bench in use."""
    from station.hw.backend import sim_bench_path

    bench = sim_bench_path()
    if bench is None:
        return ("no slots to provision: no probe or device found (connect one; to use simulated devices, pass "
                "--sim-dir BENCH or set STATION_SIM_DIR, after `station sim create 4 --dir BENCH`)")
    return (f"no slots to provision: the simulated bench {bench} has no twin plugged in "
            f"(`station sim create 4 --dir {bench}` adds some, `station sim list --dir {bench}` shows them)")


def run_slots(
    job: Job, slots: list[SlotSpec], *, on_result: Callable[[SlotResult], None] | None = None,
    asker: Any = None,
) -> list[SlotResult]:
    """Provision every slot in parallel and wait: :func:`~station.pipeline.handle.start`, then wait.

    Results come back in slot order. Ctrl-C cancels every slot between steps and still waits for
    them: a slot interrupted mid-transfer would leave a half-written device and an open attempt; a
    cancelled one ends at a step boundary, records ``cancelled``, and leaves its device safe.
    """
    from station.pipeline.handle import start

    handle = start(job, slots, on_result=on_result, asker=asker)
    try:
        while True:
            try:
                handle.wait()
                break
            except KeyboardInterrupt:
                handle.cancel(reason="interrupted (Ctrl-C or SIGTERM)")
    finally:
        handle.close()
    by_slot = {r.slot: r for r in handle.results()}
    return [by_slot[s.name] for s in slots]


def swd_slots(config_slots: dict[str, str], probe_ids: list[str]) -> list[SlotSpec]:
    """Slots from the station config; without one, one slot per attached probe (named 1, 2, …)."""
    if config_slots:
        missing = [f"{n}={u}" for n, u in config_slots.items() if u not in probe_ids]
        if missing:
            raise ConfigError(f"configured probe(s) not connected: {', '.join(missing)}")
        return [SlotSpec(n, Transport.SWD, u) for n, u in config_slots.items()]
    return [SlotSpec(str(i + 1), Transport.SWD, u) for i, u in enumerate(sorted(probe_ids))]


def usb_slots(device_ids: list[str]) -> list[SlotSpec]:
    """Over USB a slot is a device: named by its ID, because ports and order are not stable."""
    return [SlotSpec(d, Transport.USB, d) for d in sorted(set(device_ids))]
