"""A functional test's title: what the operator reads on the card, the record and the CLI table."""

from __future__ import annotations

from pathlib import Path

from profile_texts import MINIMAL

from station.profile.load import load_profile, validate_profile

# no factory-test firmware here: the tests run on the product's, which that override allows
BASE = 'overrides = ["allow-first-connect"]\n' + MINIMAL

PLAN = """
[[tests]]
name = "battery"
title = "Battery voltage"
kind = "serial"
cmd = "battery"
min = 3.5
max = 4.3
unit = "V"

[[tests]]
name = "vin"
kind = "serial"
cmd = "vin"
unit = "V"

[[tests]]
name = "cellular-ids"
kind = "identity"
check = "cellular"

[[tests]]
name = "approtect-open"
kind = "memory"
address = 0x10001208
expect = [0xFF]

[[tests]]
name = "led"
kind = "operator"
question = "Is the status LED green?"

[[tests]]
name = "hello_fw"
kind = "serial"
cmd = "hello"
"""


def test_a_title_is_used_and_every_other_step_gets_words_from_its_kind(write_profile) -> None:  # type: ignore[no-untyped-def]
    plan = load_profile(write_profile(BASE + PLAN)).tests
    assert plan.titles() == {
        "battery": "Battery voltage",
        "vin": "Vin (V)",
        "cellular-ids": "Cellular IDs (IMEI, ICCID)",
        "approtect-open": "Memory check: Approtect open",
        "led": "Operator check: Led",
        "hello_fw": "Hello fw",
    }


def test_a_title_too_long_for_a_card_or_empty_is_refused_at_its_field(write_profile) -> None:  # type: ignore[no-untyped-def]
    long = BASE + PLAN.replace('title = "Battery voltage"', f'title = "{"x" * 41}"')
    assert [(e.field, "40" in e.problem) for e in validate_profile(write_profile(long))] == [("tests[0].title", True)]
    empty = BASE + PLAN.replace('title = "Battery voltage"', 'title = ""')
    assert [e.field for e in validate_profile(write_profile(empty))] == ["tests[0].title"]


def test_the_shipped_demo_profile_titles_its_readings() -> None:
    demo = Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles" / "demo-boron.toml"
    titles = load_profile(demo).tests.titles()
    assert titles["battery"] == "Battery voltage" and titles["led"] == "Status LED is green"
    assert titles["device-id"] == "Device ID matches"  # no title in the file: the identity check's words
