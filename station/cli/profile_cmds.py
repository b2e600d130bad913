"""``station profile``: check a product profile before it reaches the line.

``check`` prints one line per problem (file: field: what was expected) and exits 2, so an engineer
fixes everything in one pass and a script can gate a release on it. When a firmware cache is
available it also proves every referenced module is there, intact, for the right platform, and
that the set can boot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from station.app.profiles import profile_summary as _summary
from station.cli.common import cache_option, echo_json, json_option


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
        from station.app.profiles import check_profile

        result = check_profile(path, cache_dir)
        errors, notes, cache = result.errors, result.notes, result.cache
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
        from station.app.profiles import demo_profile
        from station.errors import ConfigError

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
        from station.app.profiles import load_profile

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
