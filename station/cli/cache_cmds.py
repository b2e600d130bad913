"""``station cache``: add firmware files to the offline cache, list them, verify them."""

from __future__ import annotations

from pathlib import Path

import click

from station.cli.common import cache_option, echo_json, json_option, open_cache
from station.errors import FirmwareError


def _address(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise FirmwareError(f"--address {value!r} is not a number (use e.g. 0xB4000)") from None


def register(cli: click.Group) -> None:
    @cli.group("cache")
    def cache() -> None:
        """The firmware cache: content-addressed by SHA-256, verified on every use."""

    @cache.command("add")
    @click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--name", default=None, help="Name to record (default: the file name; one file only).")
    @click.option("--address", default=None, help="Flash address for a raw binary that is not a module.")
    @cache_option
    @json_option
    def add(files: tuple[Path, ...], name: str | None, address: str | None, cache_dir: Path | None, as_json: bool) -> None:
        """Add FILES (modules, Intel HEX, or raw binaries with --address)."""
        if name and len(files) > 1:
            raise FirmwareError("--name applies to one file; give one file or no --name")
        fc = open_cache(cache_dir)
        addr = _address(address)
        added = [fc.add_new(f, name=name, address=addr) for f in files]
        if as_json:
            echo_json([e.to_json() | {"new": new} for e, new in added])
            return
        for e, new in added:
            click.echo(f"{'added' if new else 'already cached'} {e.sha256}  {e.describe()}")

    @cache.command("list")
    @cache_option
    @json_option
    def list_(cache_dir: Path | None, as_json: bool) -> None:
        """List cached files (metadata only; use verify to re-hash)."""
        fc = open_cache(cache_dir)
        if not fc.root.is_dir():
            # not "empty": a mistyped STATION_CACHE must not read as a cache that lost its files
            click.echo(f"the firmware cache {fc.root} does not exist: nothing is cached there (check --cache / "
                       "STATION_CACHE; `station cache add FILE` creates it)", err=True)
            if as_json:
                echo_json([])
            return
        entries = fc.entries()
        if as_json:
            echo_json([e.to_json() for e in entries])
            return
        if not entries:
            click.echo(f"cache {fc.root} is empty")
            return
        for e in entries:
            what = e.info.describe() if e.info else (f"{e.kind} at 0x{e.address:X}" if e.address is not None else e.kind)
            click.echo(f"{e.sha256}  {e.size:>8}  {e.name:<36} {what}")

    @cache.command("verify")
    @cache_option
    @json_option
    @click.pass_context
    def verify(ctx: click.Context, cache_dir: Path | None, as_json: bool) -> None:
        """Re-hash every entry; exit 1 naming any that changed on disk."""
        fc = open_cache(cache_dir)
        results = fc.verify()
        bad = [(e, problem) for e, problem in results if problem]
        if as_json:
            echo_json([{"sha256": e.sha256, "name": e.name, "ok": p is None, "problem": p} for e, p in results])
        else:
            for e, problem in bad:
                click.echo(f"CORRUPT {e.name} [{e.sha256}]: {problem}", err=True)
            click.echo(f"{len(results) - len(bad)} of {len(results)} entries intact in {fc.root}")
        if bad:
            ctx.exit(1)
