"""Cross-check against Particle's own parser (binary-version-reader from the npm registry).

``npx -y binary-version-reader FILE`` prints the parser's result with ``console.dir``; we read the
fields back from that text and compare them one by one with ``station firmware inspect --json``.
Skipped, with the reason shown, when npx is missing or the package cannot be fetched.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from station.cli.main import cli
from station.domain import ModuleFunction
from station.firmware.build import build_module, filler

pytestmark = pytest.mark.npx

_FIELD = re.compile(r"^\s*(\w+): (.*?),?$")


def _reference(path: Path) -> dict[str, Any]:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed")
    try:
        proc = subprocess.run(
            [npx, "-y", "binary-version-reader", str(path)], capture_output=True, text=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npx binary-version-reader timed out (npm registry unreachable?)")
    if proc.returncode != 0 or "prefixInfo" not in proc.stdout:
        pytest.skip(f"binary-version-reader could not run: {(proc.stderr or proc.stdout).strip()[-300:]}")
    fields: dict[str, Any] = {}
    crc = re.search(r"crc: \{ ok: (true|false)", proc.stdout)
    if crc:
        fields["ok"] = crc.group(1) == "true"
    for line in proc.stdout.splitlines():
        m = _FIELD.match(line)
        if not m or m.group(1) in fields:
            continue
        raw = m.group(2)
        if raw.startswith("'") and raw.endswith("'"):
            fields[m.group(1)] = raw[1:-1]
        elif raw in ("true", "false"):
            fields[m.group(1)] = raw == "true"
        elif re.fullmatch(r"-?\d+", raw):
            fields[m.group(1)] = int(raw)
    return fields


def _as_inspect(ref: dict[str, Any]) -> dict[str, Any]:
    """Particle's field names and encodings mapped onto the inspect contract."""
    none = lambda v: None if v == -1 else v  # noqa: E731 - the parser's "no product data"
    return {
        "platform_id": ref["platformID"],
        "function": ref["moduleFunction"],
        "index": ref["moduleIndex"],
        "version": ref["moduleVersion"],
        "start": int(ref["moduleStartAddy"], 16),
        "end": int(ref["moduleEndAddy"], 16),
        "flags": ref["moduleFlags"],
        "deps": [
            [ref["depModuleFunction"], ref["depModuleIndex"], ref["depModuleVersion"]],
            [ref["dep2ModuleFunction"], ref["dep2ModuleIndex"], ref["dep2ModuleVersion"]],
        ],
        "product_id": none(ref["productId"]),
        "product_version": none(ref["productVersion"]),
        "crc_ok": ref["ok"],
        "sha256": ref["fwUniqueId"],
        "suffix_size": ref["suffixSize"],
        "prefix_offset": ref["prefixOffset"],
    }


def _files(tmp_path: Path, demo: dict[str, bytes]) -> list[Path]:
    out = []
    for key, data in demo.items():
        p = tmp_path / f"{key}.bin"
        p.write_bytes(data)
        out.append(p)
    # a P2-style bootloader: prefix at 0x20, only found by the reference's 4-byte scan
    p2 = build_module(function=ModuleFunction.BOOTLOADER, index=0, version=2300, platform_id=32,
                      start=0x08004000, body=filler("p2", 3000), prefix_offset=0x20,
                      head=filler("p2-vectors", 0x20), product_id=32, product_version=0)
    (tmp_path / "p2-bootloader.bin").write_bytes(p2)
    out.append(tmp_path / "p2-bootloader.bin")
    bad = bytearray(demo["user-factory-test"])
    bad[777] ^= 0x08
    (tmp_path / "corrupt.bin").write_bytes(bytes(bad))
    out.append(tmp_path / "corrupt.bin")
    return out


@pytest.mark.slow
def test_inspect_matches_binary_version_reader(tmp_path: Path, demo: dict[str, bytes]) -> None:
    runner = CliRunner()
    for path in _files(tmp_path, demo):
        ours = json.loads(runner.invoke(cli, ["firmware", "inspect", "--json", str(path)]).stdout)
        theirs = _as_inspect(_reference(path))
        for key, value in theirs.items():
            assert ours[key] == value, f"{path.name}: {key}: station {ours[key]!r}, Particle {value!r}"
        assert set(ours) == set(theirs)
