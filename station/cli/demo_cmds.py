"""``station demo``: the whole station in one command, on simulated devices.

It is the real pipeline — pyocd (or pyusb DFU) programming twins whose memory is mmap'd files,
pyserial talking to their factory-test firmware over ptys, the registry, the outbox, labels and a
manifest export — with only the devices simulated. It creates its own bench, firmware cache and
SQLite registry unless ``--sim-dir``/``--db`` are given on its command line: ``STATION_DB`` and
``STATION_SIM_DIR`` are deliberately ignored, because a line station exports them and a demo must
never put simulated devices into a production registry (or twins onto a production bench).
Every device of the demo is marked simulated in the registry, so even a demo pointed at a real
registry with ``--db`` never has its devices sent to a real cloud.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from station.app.bench import DEMO_RUN_PREFIX, demo_root, demo_station_name, new_demo_bench
from station.app.profiles import demo_profile
from station.app.settings import path_component
from station.cli.common import echo_json, json_option
from station.cli.progress import exit_code, result_json, results_table

__all__ = ["DEMO_RUN_PREFIX", "demo_root", "demo_station_name", "new_demo_bench", "register"]



def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--devices", "-n", "count", type=click.IntRange(1, 32), default=4, show_default=True)
    @click.option("--transport", type=click.Choice(["swd", "usb"]), default="swd", show_default=True)
    @click.option("--realtime", is_flag=True, help="Twins take as long as real hardware would (SWD 4 MHz, NVMC, USB FS).")
    @click.option("--platform", type=click.Choice(["boron", "bsom"]), default="boron", show_default=True)
    @click.option("--profile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Use this profile instead of the shipped demo profile.")
    @click.option("--db", "db_url", help="Registry URL (default: SQLite inside the bench; STATION_DB is ignored).")
    @click.option("--sim-dir", "--dir", "sim_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Bench folder for the twins (default: a new one; STATION_SIM_DIR is ignored).")
    @click.option("--in-process-probes", is_flag=True,
                  help="Keep the twins' SWD probes in this process instead of behind pyocd probe servers.")
    @json_option
    def demo(count: int, transport: str, realtime: bool, platform: str, profile: Path | None,
             db_url: str | None, sim_dir: Path | None, in_process_probes: bool, as_json: bool) -> None:
        """Create --devices N simulated devices and provision them end to end, then export the lot."""
        from station.app.bench import open_bench
        from station.app.firmware import install_demo_firmware, open_cache
        from station.app.lots import export_lot
        from station.app.registry import open_registry
        from station.cli.provision_cmds import run_provision

        console = Console(stderr=True)
        if sim_dir is not None:
            bench_dir = sim_dir.resolve()
        else:
            bench_dir, removed, freed = new_demo_bench(demo_root())
            if removed:
                click.echo(f"removed {removed} earlier demo bench(es) from {demo_root()} ({freed / 1e6:.0f} MB)",
                           err=True)
        if realtime:
            os.environ["STATION_SIM_REALTIME"] = "1"
        bench = open_bench(bench_dir, must_exist=False, realtime=realtime)
        twins = bench.create(count, platform, prefix=f"demo-{platform}-")
        kept = ("" if sim_dir is not None
                else "; kept until the next `station demo` replaces it, or choose a folder with --sim-dir")
        click.echo(f"bench: {bench_dir} ({count} new {platform} twins{kept})", err=True)  # whole path, unwrapped
        cache = open_cache(bench_dir / "firmware_cache")
        install_demo_firmware(cache, platform)
        db = db_url or f"sqlite:///{bench_dir / 'station-demo.db'}"
        profile_path = profile or demo_profile(platform)
        # Over SWD the station reaches each twin the way it reaches a probe on another PC: through
        # pyocd's probe server (one process per twin, as `station sim serve` runs them), so this
        # process holds no twin code on the SWD path and the twins' emulation has CPUs of its own.
        served = None
        if transport == "swd" and not in_process_probes:
            from station.app.bench import swd_publisher

            served = swd_publisher(bench, [t.name for t in twins])
            served.start()
        uids = [served.remote_uid(t.name) if served else t.identity.probe_uid for t in twins]
        slots = ",".join(f"{i + 1}={uid}" for i, uid in enumerate(uids))
        kw: dict[str, Any] = dict(
            profile=profile_path, lot=None, operator="demo", slots=None if transport == "usb" else slots,
            usb=transport == "usb", db_url=db, cache_dir=cache.root, sim_dir=bench_dir,
            answers=("led=yes",), labels=bench_dir / "labels", recover_confirmed_by=None,
            config_path=None, station_name=demo_station_name(bench_dir), as_json=as_json,
        )
        if transport == "usb":
            # A USB bench starts from devices as delivered: a bootloader, waiting in DFU mode.
            from station.app.bench import ship_with_bootloader

            ship_with_bootloader(*twins)
            kw["usb_filter"] = {t.device_id for t in twins}
        try:
            lot, results = run_provision(console=console, **kw)
        finally:
            if served is not None:
                served.stop()
        manifest = bench_dir / f"{path_component(lot)}.txt"
        export_lot(open_registry(db, create=True), lot, "txt", manifest)
        passed = sum(r.outcome == "passed" for r in results)
        if as_json:
            echo_json({"bench": str(bench_dir), "db": db, "lot": lot, "manifest": str(manifest),
                       "passed": passed, "results": [result_json(r) for r in results]})
        else:
            out = Console()
            out.print(results_table(results, title=f"Demo lot {lot}"))
            out.print(f"lot:      {lot}")
            out.print(f"manifest: {manifest}")
            out.print(f"registry: {db}")
            out.print(f"labels:   {bench_dir / 'labels' / path_component(lot)}")
            out.print(f"{passed}/{len(results)} devices passed")
        code = exit_code(results)
        if code:
            sys.exit(code)
