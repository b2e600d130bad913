"""``station sim …``: make and handle digital twins, the way a bench technician handles boards.

Everything here acts on a bench folder (``--dir``, default env ``STATION_SIM_DIR``); the station's
own commands then find those twins through the normal pyocd/pyusb/serial paths.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from station.app.bench import fault_values, find_twin, open_bench, parse_faults, probe_choices, twin_row
from station.cli.common import echo_json, json_option, setting_option
from station.domain import PLATFORMS, gen3_ficr_words
from station.errors import ConfigError

__all__ = ["dir_option", "parse_faults", "register", "twin_row"]


def dir_option(f: Any) -> Any:
    return setting_option(
        "sim_dir", "--sim-dir", "--dir", "bench_dir", type=click.Path(file_okay=False, path_type=Path),
        help="Bench directory holding the twins (--dir is the same option).",
    )(f)


# ---------------------------------------------------------------------------- commands
def register(cli: click.Group) -> None:
    @cli.group("sim")
    def sim() -> None:
        """Digital twins: simulated Particle Gen3 boards on a bench folder."""

    @sim.command("probe-server", hidden=True, add_help_option=False,
                 context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.pass_context
    def probe_server(ctx: click.Context) -> None:
        """The twins' pyocd probe server as a command of its own: a frozen bundle has no `python -m`, so
        `station sim serve` and `station demo` start their probe servers through the station program itself."""
        from station.app.bench import probe_server_main

        raise SystemExit(probe_server_main(list(ctx.args)))

    @sim.command("create")
    @click.argument("count", type=click.IntRange(1, 256), required=False)
    @click.option("--devices", "-n", "devices", type=click.IntRange(1, 256), default=None,
                  help="How many twins (the same as COUNT; `station demo --devices N` names it so too).")
    @click.option("--platform", type=click.Choice(sorted(PLATFORMS)), default="boron", show_default=True)
    @dir_option
    @click.option("--seed", type=int, default=None, help="Reproducible device IDs, keys and serials.")
    @click.option("--prefix", default="twin", show_default=True, help="Name prefix of the new twins.")
    @click.option("--locked", is_flag=True, help="APPROTECT on (readback protection), as some boards arrive.")
    @click.option(
        "--blank",
        is_flag=True,
        help="Chips fresh from Nordic: no MBR, bootloader or UICR (they never boot, nothing on USB). "
        "Default: as the module maker ships them.",
    )
    @click.option(
        "--build-code",
        type=click.Choice(["D", "F"], case_sensitive=False),
        default="D",
        show_default=True,
        help="nRF52840 silicon: D, or F (hardened APPROTECT: the debug port re-locks at every reset "
        "unless UICR.APPROTECT is 0x5A and the bootloader opens it).",
    )
    @click.option(
        "--probe",
        "probe",
        type=click.Choice(probe_choices()),
        default="ideal",
        show_default=True,
        help="The debug probe's USB link, for timing: ideal (SWD wire time only), or a CMSIS-DAP v1 (HID) / "
        "v2 (bulk) probe at USB full or high speed (packets and round trips charged as the probe needs them).",
    )
    @click.option("--realtime", is_flag=True, help="These twins take as long as real hardware, in every process.")
    @click.option("--device-id", default=None, help="Give every new twin this Gen3 device ID (duplicate-ID fault).")
    @json_option
    def create(
        count: int | None,
        devices: int | None,
        platform: str,
        bench_dir: Path | None,
        seed: int | None,
        prefix: str,
        locked: bool,
        blank: bool,
        build_code: str,
        probe: str,
        realtime: bool,
        device_id: str | None,
        as_json: bool,
    ) -> None:
        """Create COUNT twins as the module maker ships them (MBR, bootloader, UICR; a device key in the DCT).

        ``--blank`` gives chips fresh from Nordic instead: internal flash and UICR erased.
        """
        if count is not None and devices is not None and count != devices:
            raise ConfigError(f"COUNT {count} and --devices {devices} disagree: give one")
        count = count or devices
        if count is None:
            raise ConfigError("how many twins? give COUNT or --devices N")
        bench = open_bench(bench_dir, must_exist=False)
        bench.realtime = bench.realtime or realtime
        words = None
        if device_id is not None:
            try:
                words = gen3_ficr_words(device_id)
            except ValueError as exc:
                raise ConfigError(f"--device-id: {exc}") from None
        twins = bench.create(
            count,
            platform,
            seed=seed,
            prefix=prefix,
            approtect=locked,
            deviceid=words,
            blank=blank,
            build_code=build_code.upper(),
            probe=probe,
        )
        rows = [twin_row(t) for t in twins]
        if as_json:
            echo_json(rows)
            return
        for r in rows:
            click.echo(f"{r['name']}  {r['device_id']}  probe {r['probe_uid']}  {r['platform']}")
        click.echo(f"created {len(rows)} twin(s) in {bench.path}")

    @sim.command("list")
    @dir_option
    @json_option
    def list_(bench_dir: Path | None, as_json: bool) -> None:
        """The twins on the bench and what each is doing."""
        bench = open_bench(bench_dir)
        rows = [twin_row(t) for t in bench.twins()]
        if as_json:
            echo_json(rows)
            return
        if not rows:
            click.echo(f"no twins in {bench.path}")
            return
        # every column as wide as its widest cell: long twin names and states stay aligned
        # IN FIXTURE / PROBE ON USB: a lifted unit (probe stays) and a pulled probe (unit stays) are the
        # two halves of a slot the operator can lose, and end a run FAIL and ERROR respectively
        cells = [[r["name"], r["device_id"], r["probe_uid"], r["platform"], "yes" if r["plugged"] else "no",
                  "no" if r["lifted"] else "yes", "yes" if r["probe_attached"] else "no",
                  r["run_state"], r["running_app"] or "-"] for r in rows]
        head = ["NAME", "DEVICE ID", "PROBE", "PLATFORM", "PLUGGED", "IN FIXTURE", "PROBE ON USB", "STATE", "APP"]
        widths = [max(len(str(c[i])) for c in [head, *cells]) for i in range(len(head))]
        for line in [head, *cells]:
            click.echo("  ".join(f"{c!s:<{w}}" for c, w in zip(line, widths, strict=True)).rstrip())

    @sim.command("plug")
    @click.argument("name")
    @dir_option
    def plug(name: str, bench_dir: Path | None) -> None:
        """Plug the twin's cable in: it powers on and boots whatever is in its flash."""
        bench = open_bench(bench_dir)
        find_twin(bench, name)
        twin = bench.plug(name)
        st = twin.state
        click.echo(f"{name}: plugged in, {st.run_state}" + (f" ({st.running_app})" if st.running_app else ""))

    @sim.command("unplug")
    @click.argument("name")
    @dir_option
    def unplug(name: str, bench_dir: Path | None) -> None:
        """Pull the twin's cable: its probe and USB device vanish (the whole slot; ``lift`` takes
        only the unit out of its fixture)."""
        bench = open_bench(bench_dir)
        find_twin(bench, name)
        bench.unplug(name)
        click.echo(f"{name}: unplugged")

    @sim.command("lift")
    @click.argument("name")
    @dir_option
    def lift(name: str, bench_dir: Path | None) -> None:
        """Take the unit out of its fixture: its probe stays on USB, the target stops answering
        (no ACK). ``station sim plug`` seats it again."""
        bench = open_bench(bench_dir)
        find_twin(bench, name)
        bench.lift(name)
        click.echo(f"{name}: taken out of the fixture, its probe still attached")

    @sim.command("pull-probe")
    @click.argument("name")
    @dir_option
    def pull_probe(name: str, bench_dir: Path | None) -> None:
        """Pull the slot's debug probe off the station's USB: the unit stays in its fixture."""
        bench = open_bench(bench_dir)
        find_twin(bench, name)
        bench.pull_probe(name)
        click.echo(f"{name}: probe pulled")

    @sim.command("attach-probe")
    @click.argument("name")
    @dir_option
    def attach_probe(name: str, bench_dir: Path | None) -> None:
        """Put the slot's debug probe back on the station's USB."""
        bench = open_bench(bench_dir)
        find_twin(bench, name)
        bench.attach_probe(name)
        click.echo(f"{name}: probe attached")

    @sim.command("reset")
    @click.argument("name")
    @dir_option
    def reset(name: str, bench_dir: Path | None) -> None:
        """Press the reset button: the twin boots from its flash (no debugger involved)."""
        from station.app.bench import press_reset

        bench = open_bench(bench_dir)
        twin = find_twin(bench, name)
        if not twin.state.plugged:
            raise ConfigError(f"{name} is unplugged: plug it in first")
        st = press_reset(twin)
        click.echo(f"{name}: {st.run_state}" + (f" ({st.running_app})" if st.running_app else ""))

    @sim.command("events")
    @click.argument("name")
    @dir_option
    @json_option
    def events(name: str, bench_dir: Path | None, as_json: bool) -> None:
        """The twin's event log (boot, first_connect, key_lost, unplug …)."""
        twin = find_twin(open_bench(bench_dir), name)
        evs = twin.events.read()
        if as_json:
            echo_json(evs)
            return
        import datetime as dt

        for e in evs:
            when = dt.datetime.fromtimestamp(e["t"], dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            rest = " ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in ("t", "kind"))
            click.echo(f"{when}  {e['kind']:<14} {rest}")

    @sim.command("fault")
    @click.argument("name")
    @click.argument("settings", nargs=-1)
    @dir_option
    @json_option
    def fault(name: str, settings: tuple[str, ...], bench_dir: Path | None, as_json: bool) -> None:
        """Inject faults: key=value … (e.g. swd_fault_rate=0.01 stuck_word=0x28010 slow_factor=2).

        With no settings, shows the current faults; ``reset=1`` clears them all.
        """
        twin = find_twin(open_bench(bench_dir), name)
        if settings == ("reset=1",):
            current = twin.set_faults(**fault_values())
        elif settings:
            current = twin.set_faults(**parse_faults(settings))
        else:
            current = twin.faults
        data = fault_values(current)
        if as_json:
            echo_json(data)
            return
        for k, v in data.items():
            click.echo(f"{k} = {v}")

    @sim.command("serve", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
    @dir_option
    @click.option("--no-usb", is_flag=True, help="Do not publish USB faces (no umockdev testbed).")
    @click.option("--no-serial", is_flag=True, help="Do not publish serial ports.")
    @click.option("--no-swd", is_flag=True, help="Do not serve the twins' SWD probes (pyocd probe servers).")
    @click.option("--swd-per-process", type=click.IntRange(1, 64), default=1, show_default=True,
                  help="Twins served by one SWD probe server process.")
    @json_option
    @click.argument("command", nargs=-1, type=click.UNPROCESSED)
    def serve(bench_dir: Path | None, no_usb: bool, no_serial: bool, no_swd: bool, swd_per_process: int,
              as_json: bool, command: tuple[str, ...]) -> None:
        """Keep the bench's twins alive for outside programs (dfu-util, particle-usb, pyocd, terminals).

        Serial faces become ptys, USB faces umockdev devices, SWD probes pyocd probe servers in
        processes of their own (reach one as probe remote:localhost:PORT); prints how to run a
        program against them. With COMMAND (after --), runs it under the faces and exits with its
        status.
        """
        import sys

        from station.app.bench import bench_server, serve_until_stopped, stop_signals

        bench = open_bench(bench_dir)
        with stop_signals() as stop, bench_server(
            bench, serial=not no_serial, usb=not no_usb, swd=not no_swd, swd_per_process=swd_per_process
        ) as server:
            if command:
                sys.exit(server.run(command))
            if as_json:
                click.echo(json.dumps(server.describe()))
            else:
                for line in server.howto():
                    click.echo(line)
            sys.stdout.flush()
            serve_until_stopped(stop)
