"""``station lot``: list lots, export their manifests, and report their yield.

These commands read only the registry, so they open it alone (``open_registry_cli``), not a
:class:`~station.app.session.StationSession`: a session pulls in the pipeline, the firmware
cache and the simulated bench (0.3 s of every command's start-up, and a missing bench folder
would stop a report), and none of it is needed to count a lot or write its manifest.
"""

from __future__ import annotations

from pathlib import Path

import click

from station.app.lots import FORMATS, export_lot, format_for, iso_utc, lot_report, write_lot
from station.cli.common import db_option, echo_json, json_option, open_registry_cli
from station.errors import ConfigError


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def register(cli: click.Group) -> None:
    @cli.group("lot")
    def lot() -> None:
        """Lots: what was provisioned, their manifests and yield reports."""

    @lot.command("list")
    @db_option
    @json_option
    def list_(db_url: str | None, as_json: bool) -> None:
        """List lots with their device counts (a device counts by its latest attempt in the lot).

        passed counts devices still registered in the lot; reprov counts devices that passed
        there and were later re-provisioned into another lot.
        """
        lots = open_registry_cli(db_url).lots()
        if as_json:
            echo_json([{"name": lt.name, "product": lt.product, "devices": lt.devices, "passed": lt.passed,
                        "failed": lt.failed, "reprovisioned": lt.reprovisioned, "created": iso_utc(lt.created)}
                       for lt in lots])
            return
        if not lots:
            click.echo("no lots yet")
            return
        width = max(3, *(len(lt.name) for lt in lots))
        click.echo(f"{'lot':<{width}}  {'product':<16} {'devices':>7} {'passed':>7} {'failed':>7} "
                   f"{'reprov':>7}  created (UTC)")
        for lt in lots:
            click.echo(f"{lt.name:<{width}}  {lt.product:<16} {lt.devices:>7} {lt.passed:>7} {lt.failed:>7} "
                       f"{lt.reprovisioned:>7}  {iso_utc(lt.created)}")

    @lot.command("export")
    @click.argument("lot_name", metavar="LOT")
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                  help="txt: one ID per line (Particle console import); csv; json (with steps and "
                       "measurements); peridio-csv (Peridio console bulk import). Default: what the "
                       "file's suffix names (.txt, .csv, .json), else txt; a suffix naming another format is refused.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True), required=True,
                  help="File to write (a FILE.sha256 is written beside it; its folder must exist); "
                       "- writes to standard output and the checksum to standard error.")
    @click.option("--all", "include_all", is_flag=True,
                  help="Include devices that did not pass, and those re-provisioned into another lot "
                       "since (test_result 'reprovisioned').")
    @db_option
    @json_option
    def export(lot_name: str, fmt: str | None, output: Path, include_all: bool, db_url: str | None,
               as_json: bool) -> None:
        """Export LOT's manifest atomically, with a sha256sum-format checksum file."""
        to_stdout = str(output) == "-"
        fmt = format_for(None if to_stdout else output, fmt)
        if to_stdout:
            if as_json:
                raise ConfigError("--json and -o - both want standard output: give -o FILE with --json")
            digest, count = write_lot(open_registry_cli(db_url), lot_name, fmt, click.get_binary_stream("stdout"),
                                      include_all=include_all)
            click.echo(f"{digest}  -   ({count} devices, {fmt})", err=True)
            return
        if not output.parent.is_dir():
            raise ConfigError(f"cannot write {output}: the folder {output.parent} does not exist "
                              "(create it first; the export does not guess)")
        result = export_lot(open_registry_cli(db_url), lot_name, fmt, output, include_all=include_all)
        if as_json:
            echo_json({"lot": lot_name, "format": fmt, "path": str(result.path), "devices": result.devices,
                       "sha256": result.sha256, "checksum_path": str(result.checksum_path)})
            return
        click.echo(f"wrote {result.devices} devices to {result.path} ({fmt})")
        click.echo(f"sha256 {result.sha256}  ({result.checksum_path.name})")

    @lot.command("report")
    @click.argument("lot_name", metavar="LOT")
    @db_option
    @json_option
    def report(lot_name: str, db_url: str | None, as_json: bool) -> None:
        """Yield (first-pass and final), failures by step, and measurement statistics of LOT.

        A unit whose latest run ended in a station error (its probe went, the registry was away,
        a station bug) counts under station errors (errors in --json), not failed: it was never
        judged, so it is out of the first-pass yield's denominator and of failures by step.
        """
        registry = open_registry_cli(db_url)
        summary = registry.lot_ref(lot_name)
        rep = lot_report(registry, lot_name)
        unlabelled = registry.unlabelled_devices(lot_name)
        unsafe = registry.unsafe_devices(lot_name)
        if as_json:
            echo_json({"lot": summary.name, "product": summary.product, **rep.to_dict(), "unlabelled": unlabelled,
                       "unsafe_to_power": unsafe})
            return
        click.echo(f"lot {summary.name} (product {summary.product}): {rep.devices} devices, {rep.attempts} attempts")
        click.echo(f"passed {rep.final_pass}, failed {rep.failed}, station errors {rep.errors} "
                   "(the station's fault, not the unit's: not judged, not in failures by step)")
        click.echo(f"first-pass yield {_pct(rep.first_pass_yield)} ({rep.first_pass}/{rep.judged})   "
                   f"final yield {_pct(rep.final_yield)} ({rep.final_pass}/{rep.devices})")
        if rep.devices_per_hour is not None:
            click.echo(f"rate {rep.devices_per_hour:.1f} devices/h (first attempt start to last finish, "
                       f"{iso_utc(rep.first_started)} .. {iso_utc(rep.last_finished)})")
        if rep.failures_by_step:
            click.echo("failures by step:")
            for row in rep.pareto():
                click.echo(f"  {row['step']:<24} {row['count']:>6}  {100 * row['share']:5.1f}%  "
                           f"(cumulative {100 * row['cumulative']:5.1f}%)")
        if rep.measurements:
            click.echo("measurements (numeric):")
            click.echo(f"  {'step/name':<32} {'unit':<6} {'n':>6} {'mean':>12} {'min':>12} {'max':>12}")
            for m in rep.measurements:
                click.echo(f"  {m.step + '/' + m.name:<32} {m.unit or '':<6} {m.count:>6} {m.mean:>12.4g} "
                           f"{m.min:>12.4g} {m.max:>12.4g}")
        if unsafe:
            click.echo(f"UNSAFE TO POWER ({len(unsafe)}): re-flash before they leave the fixture "
                       "(the product firmware is enabled and connects at power-up):")
            for did in unsafe:
                click.echo(f"  {did}")
        if unlabelled:
            click.echo(f"registered without a label ({len(unlabelled)}; print with `station label ID`):")
            for did in unlabelled:
                click.echo(f"  {did}")
