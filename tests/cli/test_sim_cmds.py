"""``station sim``: create, list, plug/unplug, reset, events, fault — exit codes and JSON keys."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from station.cli.main import cli
from station.sim.bench import forget_twins


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_create_list_and_json_keys(tmp_path: Path) -> None:
    d = str(tmp_path / "bench")
    code, out = run("sim", "create", "2", "--platform", "bsom", "--dir", d, "--seed", "4", "--json")
    assert code == 0, out
    made = json.loads(out)
    assert [t["name"] for t in made] == ["twin01", "twin02"]
    code, out = run("sim", "list", "--json", env={"STATION_SIM_DIR": d})
    assert code == 0, out
    rows = json.loads(out)
    assert set(rows[0]) >= {"name", "device_id", "probe_uid", "platform", "plugged", "run_state", "running_app"}
    assert rows[0]["platform"] == "bsom" and rows[0]["device_id"].startswith("e00fce68")
    forget_twins(d)


def test_locked_twins_have_approtect_set(tmp_path: Path) -> None:
    d = tmp_path / "bench"
    assert run("sim", "create", "1", "--dir", str(d), "--locked")[0] == 0
    assert (d / "twin01" / "uicr.bin").read_bytes()[0x208] == 0x00
    forget_twins(d)


def test_unplug_plug_reset_and_events(tmp_path: Path) -> None:
    d = str(tmp_path / "bench")
    run("sim", "create", "1", "--dir", d, "--seed", "5")
    assert run("sim", "unplug", "twin01", "--dir", d)[0] == 0
    code, out = run("sim", "reset", "twin01", "--dir", d)
    assert code == 2 and "unplugged" in out
    assert run("sim", "plug", "twin01", "--dir", d)[0] == 0
    code, out = run("sim", "reset", "twin01", "--dir", d)
    assert code == 0 and "dfu" in out
    code, out = run("sim", "events", "twin01", "--dir", d, "--json")
    kinds = [e["kind"] for e in json.loads(out)]
    assert kinds[:4] == ["created", "stocked", "unplug", "plug"] and kinds[-1] == "boot"
    forget_twins(d)


def test_lift_and_pull_probe_keep_what_a_fixture_keeps(tmp_path: Path) -> None:
    """``lift``: the unit out, its probe stays listed; ``pull-probe``: the probe goes, the unit stays."""
    d = str(tmp_path / "bench")
    run("sim", "create", "2", "--dir", d, "--seed", "6")

    def row(name: str) -> dict[str, object]:
        rows = {r["name"]: r for r in json.loads(run("sim", "list", "--json", "--dir", d)[1])}
        return rows[name]

    assert run("sim", "lift", "twin01", "--dir", d)[0] == 0
    assert (row("twin01")["plugged"], row("twin01")["lifted"], row("twin01")["probe_attached"]) == (False, True, True)
    assert run("sim", "pull-probe", "twin02", "--dir", d)[0] == 0
    assert (row("twin02")["plugged"], row("twin02")["probe_attached"]) == (True, False)
    table = run("sim", "list", "--dir", d)[1].splitlines()  # what a person reads: both halves of each slot
    cells = {line.split()[0]: line.split() for line in table[1:]}
    assert "PLUGGED  IN FIXTURE  PROBE ON USB  STATE" in table[0], table[0]
    assert cells["twin01"][5:7] == ["no", "yes"] and cells["twin02"][5:7] == ["yes", "no"], table
    from station.sim.bench import Bench

    bench = Bench(d)
    assert bench.get("twin01").state.probe_listed() and not bench.get("twin02").state.probe_listed()
    assert run("sim", "attach-probe", "twin02", "--dir", d)[0] == 0
    assert run("sim", "plug", "twin01", "--dir", d)[0] == 0
    assert (row("twin01")["plugged"], row("twin01")["lifted"]) == (True, False) and row("twin02")["probe_attached"]
    assert run("sim", "lift", "nosuch", "--dir", d)[0] == 2
    forget_twins(d)


def test_fault_sets_typed_values_and_rejects_bad_ones(tmp_path: Path) -> None:
    d = str(tmp_path / "bench")
    run("sim", "create", "1", "--dir", d)
    code, out = run(
        "sim", "fault", "twin01", "stuck_word=0x28010", "slow_factor=2.5", "serial_silent=yes",
        "measurement_overrides.battery=3.1", "--dir", d, "--json",
    )
    assert code == 0, out
    f = json.loads(out)
    assert f["stuck_word"] == 0x28010 and f["slow_factor"] == 2.5 and f["serial_silent"] is True
    assert f["measurement_overrides"] == {"battery": 3.1}
    assert run("sim", "fault", "twin01", "stuck_word=none", "--dir", d, "--json")[0] == 0
    for bad in ("bogus=1", "slow_factor=fast", "wrong_platform=photon", "noequals"):
        code, out = run("sim", "fault", "twin01", bad, "--dir", d)
        assert code == 2 and out.count("\n") == 1, (bad, out)
    forget_twins(d)


def test_missing_bench_and_twin_are_usage_errors(tmp_path: Path) -> None:
    code, out = run("sim", "list", env={"STATION_SIM_DIR": ""})
    assert code == 2 and "--dir" in out
    run("sim", "create", "1", "--dir", str(tmp_path / "b"))
    code, out = run("sim", "events", "nope", "--dir", str(tmp_path / "b"))
    assert code == 2 and "twin01" in out
    forget_twins(tmp_path / "b")


def test_create_with_a_forced_device_id(tmp_path: Path) -> None:
    d = str(tmp_path / "bench")
    did = "e00fce68aabbccddeeff0011"
    code, out = run("sim", "create", "2", "--dir", d, "--device-id", did, "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert {r["device_id"] for r in rows} == {did} and rows[0]["probe_uid"] != rows[1]["probe_uid"]
    code, out = run("sim", "create", "1", "--dir", d, "--device-id", "0123")
    assert code == 2 and "--device-id" in out
    forget_twins(d)
