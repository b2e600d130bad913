"""``station firmware``: look inside module files, check a set, generate the demo firmware."""

from __future__ import annotations

from pathlib import Path

import click

from station.app.firmware import ModuleInfo, platform_label
from station.app.firmware import module_info as _info_for
from station.cli.common import cache_option, echo_json, json_option, open_cache
from station.domain import PLATFORMS, ModuleFlags, ModuleFunction
from station.errors import FirmwareError


def _summary(info: ModuleInfo) -> list[str]:
    flags = [f.name.lower() for f in ModuleFlags if f and f.name and info.flags & f] or ["none"]
    deps = [d.describe() for d in info.deps if d.function != ModuleFunction.NONE] or ["none"]
    product = (
        "none in suffix"
        if info.product_id is None
        else f"id {info.product_id}, version {info.product_version}"
    )
    return [
        f"module:    {info.name} v{info.version}",
        f"platform:  {platform_label(info.platform_id)}",
        f"address:   0x{info.start:05X}-0x{info.end:05X} ({info.end - info.start + 4} bytes, prefix at 0x{info.prefix_offset:X})",
        f"CRC:       {'ok' if info.crc_ok else 'BAD'}",
        f"flags:     {', '.join(flags)}",
        f"depends:   {'; '.join(deps)}",
        f"product:   {product}",
        f"sha256:    {info.sha256} (module, suffix size {info.suffix_size})",
        f"file:      {info.file_sha256} (file SHA-256: the cache key profiles refer to)",
    ]


def register(cli: click.Group) -> None:
    @cli.group("firmware")
    def firmware() -> None:
        """Inspect Particle module binaries and generate the demo firmware set."""

    @firmware.command("inspect")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @json_option
    def inspect(file: Path, as_json: bool) -> None:
        """Show a module's prefix and suffix (exit 2 if FILE is not a Particle module)."""
        info = _info_for(file)
        if as_json:
            echo_json(info.to_json())
            return
        for line in _summary(info):
            click.echo(line)

    @firmware.command("check")
    @click.option("--platform", "platform", type=click.Choice(sorted(PLATFORMS)), required=True)
    @click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
    @json_option
    def check(platform: str, files: tuple[Path, ...], as_json: bool) -> None:
        """Check that FILES form a flashable set for PLATFORM (platform, CRC, dependencies)."""
        from station.app.firmware import check_module_set

        parsed = [(_info_for(f), f) for f in files]
        infos = {i.file_sha256: f for i, f in parsed}
        ordered = check_module_set([i for i, _ in parsed], PLATFORMS[platform].id,
                                   names={i.file_sha256: f.name for i, f in parsed}, wanted_by="--platform")
        if as_json:
            echo_json([{"file": str(infos[i.file_sha256]), **i.to_json()} for i in ordered])
            return
        click.echo(f"ok: {len(ordered)} modules for {platform}, flash order:")
        for i in ordered:
            click.echo(f"  {i.describe()}  ({infos[i.file_sha256].name})")

    @firmware.command("demo")
    @click.option("--platform", "platform", type=click.Choice(sorted(PLATFORMS)), default="boron", show_default=True)
    @click.option(
        "-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Also write the module files into this directory.",
    )
    @cache_option
    @json_option
    def demo(platform: str, output: Path | None, cache_dir: Path | None, as_json: bool) -> None:
        """Generate the demo Device OS + user firmware (deterministic) and add it to the cache."""
        from station.app.firmware import demo_filename, demo_firmware

        cache = open_cache(cache_dir)
        modules = demo_firmware(platform)
        rows = []
        for key, data in modules.items():
            name = demo_filename(platform, key)
            entry = cache.add(data, name=name)
            path = None
            if output is not None:
                try:
                    output.mkdir(parents=True, exist_ok=True)
                    (output / name).write_bytes(data)
                except OSError as exc:
                    raise FirmwareError(f"cannot write {output / name}: {exc.strerror or exc}") from exc
                path = str(output / name)
            assert entry.info is not None
            rows.append(
                {"role": key, "name": name, "sha256": entry.sha256, "version": entry.info.version,
                 "size": entry.size, "file": path}
            )
        if as_json:
            echo_json({"platform": platform, "cache": str(cache.root), "modules": rows})
            return
        click.echo(f"demo firmware for {platform} in cache {cache.root}:")
        for r in rows:
            where = f"  -> {r['file']}" if r["file"] else ""
            click.echo(f"  {r['role']:<18} v{r['version']:<5} {r['sha256']}  {r['name']}{where}")
