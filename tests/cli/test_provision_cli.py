"""The ``station`` command as an operator uses it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from station.firmware.cache import FirmwareCache
from station.firmware.demo import build_demo_modules, install_demo_firmware
from station.sim.bench import Bench, forget_twins
from station.store.registry import open_registry

REPO = Path(__file__).resolve().parents[2]
DEMO_BORON = REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


def station(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("STATION_DB", None) if "STATION_DB" not in (env or {}) else None
    return subprocess.run([sys.executable, "-m", "station", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    bench = Bench(tmp_path / "bench")
    twins = bench.create(2, seed=31)
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    env = {"STATION_SIM_DIR": str(bench.path), "STATION_CACHE": str(cache.root),
           "STATION_DB": f"sqlite:///{tmp_path / 'reg.db'}"}
    yield bench, twins, cache, env
    forget_twins(bench.path)


@pytest.mark.slow
def test_demo_provisions_four_twins_and_exports_a_matching_manifest(tmp_path: Path) -> None:
    out = station("demo", "--devices", "4", "--json", "--sim-dir", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["passed"] == 4
    manifest = Path(doc["manifest"])
    ids = manifest.read_text().split()
    assert len(ids) == 4
    reg = open_registry(doc["db"])
    passed = {r.device_id for r in reg.manifest_rows(doc["lot"])}
    assert set(ids) == passed
    bench_ids = {t.device_id for t in Bench(tmp_path / "demo").twins()}
    assert set(ids) == bench_ids
    digest = Path(str(manifest) + ".sha256").read_text().split()[0]
    assert digest == hashlib.sha256(manifest.read_bytes()).hexdigest()
    for t in Bench(tmp_path / "demo").twins():
        assert "first_connect" not in t.events.kinds()


def test_provision_over_swd_exit_zero_and_json(setup) -> None:  # type: ignore[no-untyped-def]
    _bench, twins, _cache, env = setup
    out = station("provision", "--profile", str(DEMO_BORON), "--lot", "L1", "--answer", "led=yes", "--json", env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["lot"] == "L1"
    assert sorted(r["device_id"] for r in doc["results"]) == sorted(t.device_id for t in twins)


@pytest.mark.slow
def test_operator_step_answered_no_exits_one(setup) -> None:  # type: ignore[no-untyped-def]
    # (Unanswered with no terminal is now refused up front: tests/cli/test_prompting.py, issue 15 item 1.)
    _bench, _twins, _cache, env = setup
    # slot_workers pinned to thread: the answer table is applied by the parent's broker whichever runner asks
    # it; test_provision_over_swd_exit_zero_and_json keeps the default's workers for the command
    env = {**env, "STATION_SLOT_WORKERS": "thread"}
    out = station("provision", "--profile", str(DEMO_BORON), "--lot", "L2", "--answer", "led=no", "--json", env=env)
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert {r["failing_step"] for r in doc["results"]} == {"led"}


def _untouched(twins) -> list[bytes]:  # type: ignore[no-untyped-def]
    return [hashlib.sha256(bytes(t.flash)).digest() for t in twins]


def test_malformed_profile_exits_two_with_one_line_and_flashes_nothing(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _bench, twins, _cache, env = setup
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO_BORON.read_text().replace('platform = "boron"', 'platform = "boronn"'))
    before = _untouched(twins)
    out = station("provision", "--profile", str(bad), env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "platform" in lines[0] and "bad.toml" in lines[0]
    assert "Traceback" not in out.stderr
    assert _untouched(twins) == before


@pytest.mark.parametrize(("old", "new", "field"), [
    ("min = 3.5", "min = nan", "tests[1].min"),                      # every battery would pass
    ("timeout = 10.0", "timeout = inf", "tests[3].timeout"),         # the slot would hang forever
    ('name = "demo-boron"', 'name = "demo\\u0000boron"', "name"),     # PostgreSQL refuses NUL
    ("address = 0x10001208", "address = 0x110001208", "tests[7].address"),  # truncated to 32 bits
    ('args = { color = "green" }', "args = { color = 2026-01-01T00:00:00 }", "tests[8].args.color"),
])
def test_profile_value_the_run_cannot_use_exits_two_before_touching_a_device(  # type: ignore[no-untyped-def]
        setup, tmp_path: Path, old: str, new: str, field: str) -> None:
    _bench, twins, _cache, env = setup
    bad = tmp_path / "bad.toml"
    text = DEMO_BORON.read_text()
    assert old in text
    bad.write_text(text.replace(old, new, 1))
    before, events = _untouched(twins), [t.events.kinds() for t in twins]
    out = station("provision", "--profile", str(bad), "--answer", "led=yes", env=env)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f": {field}: " in lines[0] and "Traceback" not in out.stderr
    assert _untouched(twins) == before and [t.events.kinds() for t in twins] == events


def test_corrupt_cached_firmware_exits_two_and_flashes_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    _bench, twins, cache, env = setup
    sha = hashlib.sha256(build_demo_modules("boron")["system-part1"]).hexdigest()
    blob = cache.get(sha).path
    data = bytearray(blob.read_bytes())
    data[0x4000] ^= 0x01
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(data))
    before = _untouched(twins)
    out = station("provision", "--profile", str(DEMO_BORON), env=env)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and sha[:12] in out.stderr
    assert _untouched(twins) == before


def test_missing_cache_entry_exits_two(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _bench, twins, _cache, env = setup
    empty = tmp_path / "empty-cache"
    before = _untouched(twins)
    out = station("provision", "--profile", str(DEMO_BORON), env={**env, "STATION_CACHE": str(empty)})
    assert out.returncode == 2
    assert "not in" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert _untouched(twins) == before


def test_wrong_platform_firmware_exits_two(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _bench, twins, cache, env = setup
    install_demo_firmware(cache, "bsom")
    bsom = build_demo_modules("bsom")
    text = DEMO_BORON.read_text()
    boron_sp = hashlib.sha256(build_demo_modules("boron")["system-part1"]).hexdigest()
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace(boron_sp, hashlib.sha256(bsom["system-part1"]).hexdigest()))
    before = _untouched(twins)
    out = station("provision", "--profile", str(wrong), env=env)
    assert out.returncode == 2
    assert "is for bsom (23), profile is boron (13)" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert _untouched(twins) == before


def test_profile_check_cli(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _bench, _twins, _cache, env = setup
    assert station("profile", "check", str(DEMO_BORON), env=env).returncode == 0
    shutil.copy(DEMO_BORON, tmp_path / "p.toml")
    (tmp_path / "p.toml").write_text(DEMO_BORON.read_text().replace("min = 3.5", "min = \"low\""))
    out = station("profile", "check", str(tmp_path / "p.toml"), env=env)
    assert out.returncode == 2 and "min" in out.stderr


@pytest.mark.slow
def test_scanning_a_label_finds_the_device(tmp_path: Path) -> None:
    import zxingcpp
    from PIL import Image

    env = {"STATION_SIM_DIR": str(tmp_path / "demo")}
    doc = json.loads(station("demo", "--devices", "1", "--json", "--sim-dir", str(tmp_path / "demo")).stdout)
    device_id = doc["results"][0]["device_id"]
    png = next(p for p in doc["results"][0]["labels"] if p.endswith(".png"))
    scanned = zxingcpp.read_barcodes(Image.open(png))[0].text
    # A keyboard-wedge scanner types the payload and presses Enter.
    out = station("device", "show", scanned + "\r\n", "--json", env={**env, "STATION_DB": doc["db"]})
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["device_id"] == device_id
    assert rec["product"] == "Demo Boron" and rec["lot"] == doc["lot"]
    assert [a["outcome"] for a in rec["attempts"]] == ["passed"]
    assert {c["target"] for c in rec["cloud"]} == {"particle", "peridio"}
    unknown = station("device", "show", "e00fce68" + "0" * 16, env={**env, "STATION_DB": doc["db"]})
    assert unknown.returncode == 2 and "not in the registry" in unknown.stderr


@pytest.mark.slow
def test_devices_and_identify_list_everything_attached(tmp_path: Path) -> None:
    from station.firmware.module import module_flash_image, parse_module
    from station.sim.boot import boot_device

    bench = Bench(tmp_path / "bench")
    in_dfu, running = bench.create(2, seed=91)
    mods = build_demo_modules("boron")
    for role in ("bootloader", "softdevice", "system-part1", "user-factory-test"):
        img = module_flash_image(mods[role], parse_module(mods[role]))
        running.flash[img.address : img.end] = img.data
    boot_device(running, cause="power-on")
    env = {"STATION_SIM_DIR": str(bench.path)}

    out = station("devices", "--json", env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    kinds = {(r["kind"], r.get("mode"), r.get("device_id")) for r in rows}
    assert ("usb", "dfu", in_dfu.device_id) in kinds
    assert ("usb", "normal", running.device_id) in kinds
    assert ("serial", "normal", running.device_id) in kinds
    assert {r["id"] for r in rows if r["kind"] == "probe"} == {in_dfu.identity.probe_uid, running.identity.probe_uid}

    out = station("identify", "--json", env=env)
    assert out.returncode == 0, out.stderr
    probes = {r["id"]: r["device_id"] for r in json.loads(out.stdout) if r["kind"] == "probe"}
    assert probes == {in_dfu.identity.probe_uid: in_dfu.device_id, running.identity.probe_uid: running.device_id}
    # Identifying over SWD must not change what the device runs.
    assert running.state.run_state == "running" and "first_connect" not in running.events.kinds()
    forget_twins(bench.path)


def test_a_probe_lost_mid_run_exits_three_and_says_error_not_failed(setup) -> None:  # type: ignore[no-untyped-def]
    """Exit 3: the station could not finish a device (call an engineer), told apart from 1 (a unit failed)."""
    _bench, twins, _cache, env = setup
    # 20 KB into the first flash, slot 1 goes from the station, probe and all
    assert station("sim", "fault", twins[0].name, "unplug_after_bytes=20000", env=env).returncode == 0
    slots = ",".join(f"{i + 1}={t.identity.probe_uid}" for i, t in enumerate(twins))
    out = station("provision", "--profile", str(DEMO_BORON), "--lot", "L3", "--slots", slots, "--answer", "led=yes",
                  "--json", env=env)
    assert out.returncode == 3, out.stderr
    by_slot = {r["slot"]: r for r in json.loads(out.stdout)["results"]}
    assert (by_slot["1"]["outcome"], by_slot["1"]["fault"]) == ("error", "probe-gone"), by_slot["1"]
    assert by_slot["2"]["outcome"] == "passed" and by_slot["2"]["fault"] is None
