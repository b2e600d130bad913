"""``station provision``: run a profile on every slot of the station (SWD) or every USB device."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from station.cli.common import (
    cache_option,
    db_option,
    echo_json,
    json_option,
    profile_option,
    sim_option,
)
from station.cli.progress import SlotProgress, exit_code, result_json, results_table
from station.errors import ConfigError


def discover_slots(slots: str | None, usb: bool, config: Any, usb_filter: set[str] | None = None) -> list[Any]:
    from station.app.session import find_slots

    return find_slots(config.slots, usb=usb, slots=slots, usb_filter=usb_filter)


def require_answers(session: Any, console: Console, interactive: bool | None = None) -> None:
    """Operator steps no ``--answer`` covers are asked on the terminal, one prompt at a time.

    Without a terminal nobody could answer them and every device would fail at that step, so the
    run is refused before anything is flashed, naming each question and the flag that answers it.
    """
    from station.cli.prompting import TerminalPrompter

    open_steps = session.unanswerable_prompts()
    if not open_steps:
        return
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        asked = "; ".join(f"{s.name}: {s.question or s.name!r} ({s.timeout_s:g} s)" for s in open_steps)
        flags = " ".join(f"--answer {s.name}=yes" for s in open_steps)
        raise ConfigError(
            f"the test plan asks the operator {len(open_steps)} question(s) and there is no terminal to ask "
            f"on: {asked}. Answer ahead with {flags} (or =no), or run on a terminal to be asked per device")
    session.broker.responders.append(TerminalPrompter(console))


def run_provision(
    *,
    profile: Path,
    lot: str | None,
    operator: str | None,
    slots: str | None,
    usb: bool,
    db_url: str | None,
    cache_dir: Path | None,
    sim_dir: Path | None,
    answers: tuple[str, ...],
    labels: Path | None,
    recover_confirmed_by: str | None,
    config_path: Path | None,
    station_name: str | None,
    as_json: bool,
    console: Console,
    usb_filter: set[str] | None = None,
    watch: float | None = None,
) -> tuple[str, list[Any]]:
    """Shared by ``provision`` and ``demo``; returns (lot name, slot results). Parse, call, print:
    the work is :class:`station.app.StationSession`'s."""
    from station.app import SessionSettings, StationSession

    if slots and usb:
        raise ConfigError("--slots (SWD) and --usb cannot be combined")
    with SlotProgress(console, enabled=None if not as_json else False) as progress:
        session = StationSession(SessionSettings(
            db_url=db_url, cache_dir=cache_dir, config_path=config_path, sim_dir=sim_dir, station_name=station_name,
            labels_dir=labels.resolve() if labels else None, create_registry=True), progress)
        job = session.prepare(profile, lot=lot, operator=operator, answers=answers,
                              recover_confirmed_by=recover_confirmed_by)
        require_answers(session, console)
        usb = session.use_usb(usb=usb, slots=slots)
        if watch is not None:
            return job.lot_name, _watch(session, usb, watch, console)
        handle = session.start(session.discover_slots(usb=usb, slots=slots, usb_filter=usb_filter))
        while True:
            try:
                handle.wait()
                break
            except KeyboardInterrupt:
                session.cancel()
                console.print("stopping: the slots end at their next step, their devices left safe")
        handle.close()  # the slots' worker processes, if any, release their leases and exit
        by_slot = {r.slot: r for r in handle.results()}
        return job.lot_name, [by_slot[s.name] for s in handle.slots]


def _watch(session: Any, usb: bool, seconds: float, console: Console) -> list[Any]:
    """Bench mode: provision whatever is plugged in, until Ctrl-C or ``seconds`` (0 = forever)."""
    import threading

    auto = session.auto_provisioner(usb=usb)
    stop = threading.Event()
    console.print(f"watching for {'USB devices' if usb else 'probes'}; plug a device in to provision it (Ctrl-C stops)")
    with session.plug_watcher(auto):
        try:
            stop.wait(seconds if seconds > 0 else None)
        except KeyboardInterrupt:
            console.print("stopping: finishing the runs in progress")
    auto.wait_idle()
    return list(auto.results)


def register(cli: click.Group) -> None:
    @cli.command()
    @profile_option("Product profile.", required=True)
    @click.option("--lot", help="Lot name (default: PRODUCT-YYYYMMDD-STATION).")
    @click.option("--operator", help="Who is running the station (default: the login name).")
    @click.option("--slots", help='SWD slots as "1=PROBE_ID,2=PROBE_ID", or "all" attached probes '
                  "(default: [slots] of the station config, else all probes).")
    @click.option("--usb", is_flag=True, help="Provision every Particle device attached over USB instead of SWD.")
    @click.option("--answer", "answers", multiple=True, metavar="STEP=yes|no",
                  help="Answer an operator test step ahead of time (repeatable); steps left open are asked "
                  "on the terminal, one prompt at a time (without a terminal they must be answered here).")
    @click.option("--labels", type=click.Path(file_okay=False, path_type=Path),
                  help="Write label files (per the profile's formats) into this directory.")
    @click.option("--recover-locked", "recover_confirmed_by", metavar="ENGINEER",
                  help="Confirm, as ENGINEER, that locked chips may be mass-erased (the profile must allow it).")
    @click.option("--watch", type=float, default=None, metavar="SECONDS",
                  help="Bench mode: keep watching and provision each device as it is plugged in "
                  "(SECONDS to stop after, 0 = until Ctrl-C).")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Station file: fixture slots, station name, SWD clock (env STATION_CONFIG; "
                       "default: station.toml in the user config folder).")
    @click.option("--station", "station_name", help="Station name recorded on every attempt (default: config/hostname).")
    @db_option
    @cache_option
    @sim_option
    @json_option
    def provision(**kw: Any) -> None:
        """Provision every device on the station's slots with PROFILE."""
        as_json = kw["as_json"]
        console = Console(stderr=True)
        lot, results = run_provision(console=console, **kw)
        if as_json:
            echo_json({"lot": lot, "results": [result_json(r) for r in results]})
        else:
            Console().print(results_table(results, title=f"Lot {lot}"))
        code = exit_code(results)
        if code:
            sys.exit(code)
