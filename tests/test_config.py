"""Station configuration: fixture slots mapped to probe serial numbers, and the SWD clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.config import load_config, parse_slot_map
from station.domain import Transport
from station.errors import ConfigError
from station.pipeline.line import swd_slots


def test_slots_and_clock_come_from_station_toml(tmp_path: Path) -> None:
    p = tmp_path / "station.toml"
    p.write_text('[station]\nname = "line1-st3"\nswd_frequency = 8000000\n'
                 '[slots]\n"1" = "0240000034544e45"\n"3" = "0240000034544e46"\n')
    cfg = load_config(p)
    assert cfg.name == "line1-st3" and cfg.swd_frequency == 8_000_000
    assert cfg.slots == {"1": "0240000034544e45", "3": "0240000034544e46"}
    slots = swd_slots(cfg.slots, ["0240000034544e46", "0240000034544e45", "other"])
    assert [(s.name, s.target, s.transport) for s in slots] == [
        ("1", "0240000034544e45", Transport.SWD), ("3", "0240000034544e46", Transport.SWD)]


def test_a_configured_probe_that_is_missing_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="3=0240000034544e46"):
        swd_slots({"1": "A", "3": "0240000034544e46"}, ["A"])


def test_without_config_every_probe_gets_a_slot_in_stable_order() -> None:
    assert [(s.name, s.target) for s in swd_slots({}, ["b", "a"])] == [("1", "a"), ("2", "b")]


@pytest.mark.parametrize("text", ["[slots]\n1 = 5\n", "[slotz]\n", "not toml ["])
def test_bad_station_toml_is_a_config_error(tmp_path: Path, text: str) -> None:
    p = tmp_path / "station.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=r"station\.toml"):
        load_config(p)


def test_explicit_missing_config_is_an_error_but_a_missing_default_is_not(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    monkeypatch.setattr("station.config.default_config_path", lambda: tmp_path / "absent.toml")
    assert load_config().slots == {}


def test_slot_map_flag() -> None:
    assert parse_slot_map("1=AAA, 2=BBB") == {"1": "AAA", "2": "BBB"}
    with pytest.raises(ConfigError, match="SLOT=PROBE_ID"):
        parse_slot_map("1=AAA,BBB")
