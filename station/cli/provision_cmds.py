"""``station provision``: run a profile on every slot of the station (SWD) or every USB device."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from station.cli.common import (
    activate_sim,
    cache_option,
    db_option,
    echo_json,
    json_option,
    open_cache,
    open_registry_cli,
    profile_option,
    sim_option,
)
from station.cli.progress import SlotProgress, result_json, results_table
from station.config import load_config, parse_slot_map
from station.errors import ConfigError


def operator_answers(pairs: tuple[str, ...]) -> Any:
    from station.ftest.answers import parse_operator_answers

    return parse_operator_answers(list(pairs))


def operator_prompts(profile: Path, answers: tuple[str, ...], console: Console, sink: Any,
                     interactive: bool | None = None) -> Any:
    """The run's prompt broker: ``--answer`` flags first, then the terminal for the rest.

    A misspelt ``--answer`` name is refused with the closest operator step (exit 2). Without a
    terminal, a plan with operator steps the flags leave open is refused before anything is
    flashed, naming each question and how to answer it: nobody could answer them, so every
    device would fail at that step.
    """
    from station.cli.prompting import TerminalPrompter
    from station.ftest.answers import parse_answer_table
    from station.pipeline.prompts import PromptBroker, ScriptedAnswers
    from station.profile.load import load_profile

    plan = load_profile(profile).tests
    table = parse_answer_table(list(answers), plan)
    open_steps = [s for s in plan if s.kind == "operator" and s.name not in table]
    responders: list[Any] = [ScriptedAnswers(table)]
    if open_steps:
        if interactive is None:
            interactive = sys.stdin.isatty()
        if not interactive:
            asked = "; ".join(f"{s.name}: {s.question or s.name!r} ({s.timeout_s:g} s)" for s in open_steps)
            flags = " ".join(f"--answer {s.name}=yes" for s in open_steps)
            raise ConfigError(
                f"the test plan asks the operator {len(open_steps)} question(s) and there is no terminal to ask "
                f"on: {asked}. Answer ahead with {flags} (or =no), or run on a terminal to be asked per device")
        responders.append(TerminalPrompter(console))
    return PromptBroker(sink, responders=responders)


def discover_slots(slots: str | None, usb: bool, config: Any, usb_filter: set[str] | None = None) -> list[Any]:
    from station.pipeline.line import swd_slots, usb_slots

    if usb:
        from station.hw.usb import list_usb_devices

        devices = [d for d in list_usb_devices() if not d.error]
        ids = [d.device_id for d in devices if usb_filter is None or d.device_id in usb_filter]
        return usb_slots(ids)
    from station.hw.remote_probe import is_remote, reachable
    from station.hw.swd import list_probes

    probe_ids = [p.unique_id for p in list_probes()]
    mapping = config.slots
    if slots and slots != "all":
        mapping = parse_slot_map(slots)
    elif slots == "all":
        mapping = {}
    # pyocd cannot list probes behind a probe server: one is there when its server answers.
    probe_ids += [uid for uid in mapping.values() if is_remote(uid) and reachable(uid)]
    return swd_slots(mapping, probe_ids)


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
    """Shared by ``provision`` and ``demo``; returns (lot name, slot results)."""
    from station.pipeline.line import prepare_job, run_slots

    activate_sim(sim_dir)
    from station.ftest.answers import parse_answer_table
    from station.profile.load import load_profile

    parse_answer_table(list(answers), load_profile(profile).tests)  # a misspelt name: exit 2 before anything
    config = load_config(config_path)
    station = station_name or config.name
    registry = open_registry_cli(db_url, create=True)
    with SlotProgress(console, enabled=None if not as_json else False) as progress:
        job = prepare_job(
            profile_path=profile,
            cache=open_cache(cache_dir),
            registry=registry,
            station=station,
            operator=operator or getpass.getuser(),
            lot=lot,
            sink=progress,
            ask_operator=operator_answers(answers),  # runs without a broker (none today) keep the flags
            labels_dir=labels.resolve() if labels else None,
            recover_confirmed_by=recover_confirmed_by,
            swd_frequency=config.swd_frequency,
        )
        if usb is False and job.profile.transport.value == "usb" and slots is None:
            usb = True
        broker = operator_prompts(profile, answers, console, progress)
        if watch is not None:
            return job.lot_name, _watch(job, usb, config, watch, console, broker)
        slot_list = discover_slots(slots, usb, config, usb_filter)
        results = run_slots(job, slot_list, asker=broker.asker)
    return job.lot_name, results


def _watch(job: Any, usb: bool, config: Any, seconds: float, console: Console, broker: Any) -> list[Any]:
    """Bench mode: provision whatever is plugged in, until Ctrl-C or ``seconds`` (0 = forever)."""
    import threading

    from station.domain import Transport
    from station.hw.hotplug import HotplugWatcher
    from station.pipeline.autostart import AutoProvisioner

    transport = Transport.USB if usb else Transport.SWD
    names = {uid: name for name, uid in config.slots.items()}
    auto = AutoProvisioner(job, transport, slot_names=names, asker=broker.asker)
    stop = threading.Event()
    console.print(f"watching for {'USB devices' if usb else 'probes'}; plug a device in to provision it (Ctrl-C stops)")
    with HotplugWatcher(auto):
        try:
            stop.wait(seconds if seconds > 0 else None)
        except KeyboardInterrupt:
            console.print("stopping: finishing the runs in progress")
    auto.wait_idle()
    return auto.results


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
        if kw["slots"] and kw["usb"]:
            raise ConfigError("--slots (SWD) and --usb cannot be combined")
        lot, results = run_provision(console=console, **kw)
        if as_json:
            echo_json({"lot": lot, "results": [result_json(r) for r in results]})
        else:
            Console().print(results_table(results, title=f"Lot {lot}"))
        if any(r.outcome not in ("passed", "skipped") for r in results):
            sys.exit(1)
