"""``station devices`` (what is attached) and ``station identify`` (who each device is)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from station.app import attached
from station.cli.common import activate_sim, db_option, echo_json, json_option, open_session, sim_option
from station.domain import UNSAFE_TO_POWER


def _print(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for col in ("kind", "id", "product", "mode", "device ID", "note"):
        table.add_column(col, overflow="fold", no_wrap=col in ("id", "device ID"))
    for r in rows:
        note = r.get("error") or ("locked (APPROTECT)" if r.get("locked") else "")
        table.add_row(r["kind"], str(r.get("id") or "-"), str(r.get("product") or ""), str(r.get("mode") or ""),
                      r.get("device_id") or "", note)
    Console().print(table)


def _show_record(rec: Any) -> None:
    console = Console()
    simulated = "  [yellow]simulated (a digital twin)[/yellow]" if rec.simulated else ""
    console.print(f"[bold]{rec.device_id}[/bold]  {rec.platform or ''}  serial {rec.serial_number or '-'}{simulated}")
    if rec.unsafe_to_power:
        console.print(f"  [bold red]{UNSAFE_TO_POWER.upper()}[/bold red]: its last attempt lost it with the product "
                      "firmware enabled; a power-up makes it connect to the cloud")
    state = f"registered to {rec.product} in lot {rec.lot}" if rec.product else "not registered to a product"
    console.print(f"  {state}; Device OS {rec.device_os_version or '-'}, "
                  f"product firmware {rec.product_firmware_version or '-'}")
    if rec.imei or rec.iccid:
        console.print(f"  IMEI {rec.imei or '-'}  ICCID {rec.iccid or '-'}")
    table = Table(title="attempts")
    for col in ("#", "lot", "station/slot", "operator", "started (UTC)", "outcome", "failed step", "reason"):
        table.add_column(col, overflow="fold")
    for a in rec.attempts:
        table.add_row(str(a.attempt_id), a.lot, f"{a.station}/{a.slot}", a.operator,
                      a.started_at.strftime("%Y-%m-%d %H:%M:%S"), a.outcome, a.failing_step or "", a.reason or "")
    console.print(table)
    for c in rec.cloud:
        console.print(f"  cloud {c['target']}: {c['state']} ({c['stage']})" + (f" — {c['last_error']}" if c["last_error"] else ""))
    for path in rec.labels:
        console.print(f"  label {path}")
    if rec.label_missing:
        console.print(f"  [bold yellow]registered without a label[/bold yellow]: print it with "
                      f"`station label {rec.device_id} --profile PROFILE -o FILE`")


def register(cli: click.Group) -> None:
    @cli.group()
    def device() -> None:
        """One device in the registry (by ID, or by scanning its label)."""

    @device.command("show")
    @click.argument("scan")
    @db_option
    @json_option
    def show(scan: str, db_url: str | None, as_json: bool) -> None:
        """Show a device's record and history.

        SCAN is its ID, a unique prefix of at least 8 hex characters, what a scanner reads off its
        label, or its Particle serial sticker. A label whose serial number differs from the
        registry's is a LABEL MISMATCH (exit 1): the label is on the wrong board.
        """
        from dataclasses import asdict

        found = open_session(db_url).lookup(scan)
        rec = found.record
        if as_json:
            echo_json(asdict(rec) | {
                "label_missing": rec.label_missing,
                "unsafe_to_power": rec.unsafe_to_power,
                "label_serial": found.scan.serial_number if found.scan else None,
                "label_mismatch": found.mismatch is not None,
            })
        else:
            if found.mismatch:
                Console(stderr=True).print("[bold red]LABEL MISMATCH: this label is not this device's "
                                           "(details below the record)[/bold red]")
            _show_record(rec)
        if found.unconfirmed:
            click.echo(f"warning: {found.unconfirmed}", err=True)
        found.check()

    @cli.command()
    @sim_option
    @json_option
    def devices(sim_dir: Path | None, as_json: bool) -> None:
        """List attached probes, USB devices (normal and DFU mode) and serial ports."""
        activate_sim(sim_dir)
        # Reading a probe's device ID attaches without halting: the device is not disturbed.
        rows = attached(identify=True)
        if as_json:
            echo_json(rows)
        else:
            _print(rows, "Attached")

    @cli.command()
    @sim_option
    @json_option
    def identify(sim_dir: Path | None, as_json: bool) -> None:
        """Read the device ID of everything attached (SWD: FICR; USB: serial number)."""
        activate_sim(sim_dir)
        rows = attached(identify=True)
        if as_json:
            echo_json(rows)
        else:
            _print(rows, "Identified")
        if any(r.get("error") for r in rows):
            sys.exit(1)
