"""``station profile``: check a product profile before it reaches the line.

``check`` prints one line per problem (file: field: what was expected) and exits 2, so an engineer
fixes everything in one pass and a script can gate a release on it. When a firmware cache is
available it also proves every referenced module is there, intact, for the right platform, and
that the set can boot.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from station.cli.common import cache_option, echo_json, json_option
from station.errors import CacheError


def _cache_for_check(cache_dir: Path | None) -> Any:
    """The cache to check against: the one named, else the default one if it exists, else None."""
    from station.firmware.cache import FirmwareCache, default_cache_dir

    if cache_dir is not None:
        if not cache_dir.is_dir():
            raise CacheError(f"firmware cache {cache_dir} does not exist")
        return FirmwareCache(cache_dir)
    default = default_cache_dir()
    return FirmwareCache(default) if default.is_dir() else None


def _summary(profile: Any) -> dict[str, Any]:
    return {
        "name": profile.name,
        "product": profile.product,
        "platform": profile.platform.name,
        "platform_id": profile.platform.id,
        "device_os_version": profile.device_os_version,
        "transport": profile.transport.value,
        "finish": profile.finish,
        "reprovision": profile.reprovision,
        "overrides": list(profile.overrides),
        "modules": [{"role": m.role, "sha256": m.sha256, "version": m.version} for m in profile.all_modules],
        "tests": [{"name": s.name, "kind": s.kind, "required": s.required} for s in profile.tests],
        "label": {
            "width_mm": profile.label.width_mm,
            "height_mm": profile.label.height_mm,
            "dpi": profile.label.dpi,
            "formats": list(profile.label.formats),
        },
        "cloud": {
            "particle_product": profile.cloud.particle_product,
            "particle_groups": list(profile.cloud.particle_groups),
            "import_sims": profile.cloud.import_sims,
            "claim_user": profile.cloud.claim_user,
            "peridio_product_prn": profile.cloud.peridio_product_prn,
            "peridio_cohort_prn": profile.cloud.peridio_cohort_prn,
            "peridio_tags": list(profile.cloud.peridio_tags),
        },
    }


def register(cli: click.Group) -> None:
    @cli.group("profile")
    def profile() -> None:
        """Product profiles: what the line flashes, tests, registers and labels."""

    @profile.command("check")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @cache_option
    @json_option
    def check(path: Path, cache_dir: Path | None, as_json: bool) -> None:
        """Validate PATH; with a firmware cache, also check every module it references."""
        from station.profile.firmware_check import base_image_notes, check_profile_firmware
        from station.profile.load import load_profile, validate_profile

        errors = validate_profile(path)
        cache = None
        notes: list[str] = []
        if not errors:
            loaded = load_profile(path)
            notes = base_image_notes(loaded)
            cache = _cache_for_check(cache_dir)
            if cache is not None:
                errors = check_profile_firmware(loaded, cache)
        if as_json:
            echo_json(
                {
                    "path": str(path),
                    "valid": not errors,
                    "firmware_checked": cache is not None,
                    "cache": str(cache.root) if cache is not None else None,
                    "errors": [{"field": e.field, "problem": e.problem, "message": str(e)} for e in errors],
                    "notes": notes,
                }
            )
        else:
            for e in errors:
                click.echo(f"error: {e}", err=True)
            for note in notes:
                click.echo(f"note: {note}", err=True)
            if not errors:
                where = (
                    f"firmware checked against {cache.root}"
                    if cache is not None
                    else "firmware not checked: no cache"
                )
                click.echo(f"{path}: ok ({where})")
        if errors:
            sys.exit(2)

    @profile.command("demo")
    @click.option("--platform", type=click.Choice(["boron", "bsom"]), default="boron", show_default=True)
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True), default="-",
                  show_default=True, help="Write the profile here (- is standard output); an existing file is "
                                          "kept unless --force.")
    @click.option("--force", is_flag=True, help="Replace an existing --output file.")
    def demo(platform: str, output: Path, force: bool) -> None:
        """Write the shipped demo profile (the one `station demo` runs): a start for a product's own.

        Its modules are the demo firmware `station firmware demo` puts into the cache, so on a
        bench of twins (`station sim create`) it provisions as it is; docs/profiles.md describes
        every field to change for a real product.
        """
        from station.errors import ConfigError
        from station.profile.demo import demo_profile

        text = demo_profile(platform).read_text(encoding="utf-8")
        if str(output) == "-":
            click.echo(text, nl=False)
            return
        if not output.parent.is_dir():
            raise ConfigError(f"cannot write {output}: the folder {output.parent} does not exist")
        if output.exists() and not force:
            raise ConfigError(f"{output} exists: it is kept (give --force to replace it, or another -o)")
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote the demo profile for {platform} to {output}")

    @profile.command("show")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @json_option
    def show(path: Path, as_json: bool) -> None:
        """Print what a valid profile says (the first problem of an invalid one: exit 2)."""
        from station.profile.load import load_profile

        prof = load_profile(path)
        data = _summary(prof)
        if as_json:
            echo_json({"path": str(path), "sha256": prof.sha256, **data})
            return
        click.echo(f"{prof.name}: {prof.product} on {prof.platform.name}, Device OS {prof.device_os_version}")
        click.echo(
            f"  transport {prof.transport.value}, finish {prof.finish}, reprovision {prof.reprovision}"
        )
        for m in data["modules"]:
            click.echo(f"  {m['role']:<18} v{m['version']:<6} {m['sha256'][:16]}…")
        for s in prof.tests:
            click.echo(f"  test {s.name:<16} {s.kind}{'' if s.required else ' (optional)'}")
        if prof.overrides:
            click.echo(f"  overrides: {', '.join(prof.overrides)}")
