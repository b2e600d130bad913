"""``--answer STEP=yes|no``: headless answers for operator steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.errors import ConfigError
from station.ftest.answers import parse_operator_answers
from station.profile.load import load_profile

PROFILES = Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles"


def test_answers_by_step_name() -> None:
    ask = parse_operator_answers(["led=yes", "button = NO", "beep=pass"])
    assert ask("led", "Is the LED green?", 30.0) is True
    assert ask("button", "?", 1.0) is False
    assert ask("beep", "?", 1.0) is True
    assert ask("other", "?", 1.0) is None  # unanswered, immediately: nobody to wait for


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("led", "--answer 'led': expected STEP=yes or STEP=no"),
        ("=yes", "--answer '=yes': expected STEP=yes or STEP=no"),
        ("led=maybe", "--answer 'led=maybe': the answer must be yes or no, got 'maybe'"),
    ],
)
def test_malformed_answers_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_operator_answers([spec])
    assert str(info.value) == message


def test_contradicting_answers() -> None:
    with pytest.raises(ConfigError, match="both yes and no"):
        parse_operator_answers(["led=yes", "led=no"])


def test_names_are_checked_against_the_plan() -> None:
    plan = load_profile(PROFILES / "demo-boron.toml").tests
    assert parse_operator_answers(["led=yes"], plan)("led", "?", 1.0) is True
    with pytest.raises(ConfigError) as info:
        parse_operator_answers(["lde=yes"], plan)
    assert "'lde' is not an operator step of the plan (did you mean 'led'?)" in str(info.value)
    with pytest.raises(ConfigError, match="not an operator step"):
        parse_operator_answers(["battery=yes"], plan)  # a step, but not one that asks the operator
