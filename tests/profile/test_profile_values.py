"""Issue 10, item 3: every profile value is one the run can use, or ``profile check`` refuses it.

The class, not the cases: a number must be finite and in a stated range, a duration bounded, a
string printable and bounded, an address or mask 32-bit, a value of a type the run can use, and
the file must not nest past what a profile needs. The named cases below are the ones an
adversarial run found; the property test at the end throws arbitrary TOML values into every
field of the demo profile and holds the rule: refused with exit 2 and a line naming the field, or
accepted and then used by the run (limits judged, labels rendered, registry written) without an
internal error.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from profile_texts import PROFILES

from station.cli.main import cli
from station.ftest.verdict import judge_reply
from station.hw.interfaces import TestReply as Reply
from station.labels.data import LabelData
from station.labels.render import render_label
from station.profile.load import load_profile
from station.store.registry import Registry, open_registry

DEMO = (PROFILES / "demo-boron.toml").read_text()
BASE: dict[str, Any] = tomllib.loads(DEMO)


# ----------------------------------------------------------------------------- a small TOML writer
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are a subset of TOML basic strings'
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(doc: dict[str, Any]) -> str:
    """Every top-level key as one line (tables inline): enough for any document tomllib can give."""
    return "\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items()) + "\n"


def test_the_writer_round_trips_the_demo_profile() -> None:
    assert tomllib.loads(to_toml(BASE)) == BASE


# ----------------------------------------------------------------------------- helpers
def check(tmp_path: Path, text: str) -> tuple[int, str, BaseException | None]:
    path = tmp_path / "p.toml"
    path.write_text(text)
    res = CliRunner().invoke(cli, ["profile", "check", str(path)])
    return res.exit_code, res.stderr, res.exception


def set_path(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    new = json.loads(json.dumps(doc))  # a deep copy (the demo profile is plain JSON data)
    node: Any = new
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return new


def refused(tmp_path: Path, doc: dict[str, Any], field: str) -> str:
    code, err, exc = check(tmp_path, to_toml(doc))
    assert code == 2, err
    assert isinstance(exc, SystemExit)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines)
    assert any(f": {field}: " in line for line in lines), lines
    return err


@pytest.fixture(autouse=True)
def no_default_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STATION_CACHE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def test_the_demo_profile_is_accepted(tmp_path: Path) -> None:
    code, err, _ = check(tmp_path, to_toml(BASE))
    assert code == 0, err


# ----------------------------------------------------------------------------- the cases found
BATTERY, MODEM, APPROTECT, LED_GREEN, LED = 1, 3, 7, 8, 9

CASES: list[tuple[tuple[str | int, ...], Any, str]] = [
    # numbers that make every limit pass, or compare as nothing
    (("tests", BATTERY, "min"), math.nan, "tests[1].min"),
    (("tests", BATTERY, "max"), math.nan, "tests[1].max"),
    (("tests", BATTERY, "max"), math.inf, "tests[1].max"),
    (("tests", BATTERY, "min"), -1e300, "tests[1].min"),
    # durations that hang a slot forever
    (("tests", MODEM, "timeout"), math.inf, "tests[3].timeout"),
    (("tests", MODEM, "timeout"), math.nan, "tests[3].timeout"),
    (("tests", LED, "timeout"), 1e9, "tests[9].timeout"),
    (("tests", MODEM, "retries"), 10**9, "tests[3].retries"),
    # label sizes that crash or eat memory
    (("label", "width_mm"), math.inf, "label.width_mm"),
    (("label", "height_mm"), math.nan, "label.height_mm"),
    (("label", "width_mm"), 2**64, "label.width_mm"),
    (("label", "dpi"), 2**64, "label.dpi"),
    (("label", "lines"), ["{serial_number:>999999999}"], "label.lines[0]"),
    (("label", "lines"), ["{device_id:.999999999}"], "label.lines[0]"),
    (("label", "lines"), ["{product:{device_id}}"], "label.lines[0]"),
    # 32-bit addresses and masks, never truncated
    (("tests", APPROTECT, "address"), 0x1_1000_1208, "tests[7].address"),
    (("tests", APPROTECT, "mask"), 0x1_0000_00FF, "tests[7].mask"),
    (("tests", APPROTECT, "expect"), [0x1_0000_00FF], "tests[7].expect"),
    # values of a type the run cannot send
    (("tests", LED_GREEN, "args"), {"color": dt.datetime(2026, 1, 1, 12, 0)}, "tests[8].args.color"),
    (("tests", LED_GREEN, "args"), {"color": {"r": 1}}, "tests[8].args.color"),
    (("tests", LED_GREEN, "args"), {"color": [1, 2]}, "tests[8].args.color"),
    (("tests", LED_GREEN, "args"), {"color": math.nan}, "tests[8].args.color"),
    (("tests", LED_GREEN, "args"), {"color": "gr\x00een"}, "tests[8].args.color"),
    (("tests", LED_GREEN, "args"), {"co lor": "green"}, "tests[8].args"),
    (("tests", LED_GREEN, "args"), {"id": 3}, "tests[8].args.id"),
    (("tests", LED_GREEN, "args"), {"cmd": "erase"}, "tests[8].args.cmd"),
    (("tests", 0, "expect"), dt.date(2026, 1, 1), "tests[0].expect"),
    (("tests", 0, "expect"), math.nan, "tests[0].expect"),
    # strings that break PostgreSQL, terminals and labels
    (("name",), "demo\x00boron", "name"),
    (("product",), "Demo\x1b[2JBoron", "product"),
    (("product",), "P" * 10_000, "product"),
    (("cloud", "particle_product"), "demo\x00", "cloud.particle_product"),
    (("cloud", "particle_product"), 2**40, "cloud.particle_product"),
    (("cloud", "particle_groups"), ["fac\ntory"], "cloud.particle_groups[0]"),
    (("tests", BATTERY, "unit"), "V\x07", "tests[1].unit"),
    (("tests", LED, "question"), "Is it \x00 green?", "tests[9].question"),
    (("label", "lines"), ["SN\x0c{serial_number}"], "label.lines[0]"),
]


@pytest.mark.parametrize(("path", "value", "field"), CASES, ids=[c[2] + "=" + repr(c[1])[:20] for c in CASES])
def test_a_value_the_run_cannot_use_is_refused_naming_its_field(
    tmp_path: Path, path: tuple[str | int, ...], value: Any, field: str
) -> None:
    refused(tmp_path, set_path(BASE, path, value), field)


def test_control_characters_in_keys_are_shown_quoted_not_raw(tmp_path: Path) -> None:
    err = refused(tmp_path, {**BASE, "na\x00me": "x"}, "'na\\x00me'")
    assert "\x00" not in err


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    for depth in (20, 300, 5000):
        text = DEMO.replace('name = "demo-boron"', "name = " + "[" * depth + "]" * depth)
        code, err, exc = check(tmp_path, text)
        assert code == 2 and isinstance(exc, SystemExit), (depth, exc)
        assert "deep" in err and len(err.strip().splitlines()) == 1


def test_description_may_span_lines_but_holds_no_other_control_character(tmp_path: Path) -> None:
    ok = set_path(BASE, ("tests", 0, "description"), "First line.\nSecond line.")
    assert check(tmp_path, to_toml(ok))[0] == 0
    refused(tmp_path, set_path(BASE, ("tests", 0, "description"), "bell\x07"), "tests[0].description")


def test_edges_inside_the_ranges_are_accepted(tmp_path: Path) -> None:
    doc = set_path(BASE, ("tests", APPROTECT, "mask"), 0xFFFFFFFF)
    doc = set_path(doc, ("tests", APPROTECT, "expect"), [0xFFFFFFFF])
    doc = set_path(doc, ("tests", MODEM, "timeout"), 3600)
    doc = set_path(doc, ("label", "lines"), ["{serial_number:>40}", "Lot {lot}"])
    doc = set_path(doc, ("cloud", "particle_product"), 2**31 - 1)
    code, err, _ = check(tmp_path, to_toml(doc))
    assert code == 0, err


# ----------------------------------------------------------------------------- the property
def _leaf_paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaf_paths(v, (*prefix, k))] + [(*prefix, "extra_key")]
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return [p for i, v in enumerate(node) for p in _leaf_paths(v, (*prefix, i))]
    return [prefix]


PATHS = _leaf_paths(BASE) + [
    ("tests", i, key)
    for i in range(len(BASE["tests"]))
    for key in ("min", "max", "timeout", "retries", "expect", "args", "address", "mask", "unit", "field")
] + [("tests", LED_GREEN, "args", key) for key in ("color", "id", "cmd", "level")]

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
#: the edges of every class (hypothesis draws them often; the wide strategies below fill between)
_EDGES = [
    math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0, -0.0, 5e-324, 0, -1, 2**31, 2**32, 2**53 + 1, 2**64,
    "", " ", "\x00", "a\x1bb", "x" * 5000, "\u202e", dt.datetime(9999, 12, 31, 23, 59, 59), dt.date(1, 1, 1),
    dt.time(0, 0), [], {}, [[[[[[[[[[1]]]]]]]]]],
]
_scalars = st.one_of(
    st.sampled_from(_EDGES),
    st.floats(),  # nan, inf, subnormals, ±huge
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-5, max_value=0x1_0000_0004),
    _text,
    st.sampled_from(["{serial_number:>999999}", "{device_id:0>120}", "{lot!r:^50}", "{date}", "{}", "{0}"]),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.times(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = open_registry(f"sqlite:///{tmp_path_factory.mktemp('reg') / 'station.db'}")
    yield reg
    reg.close()


def _exercise(path: Path, reg: Registry) -> None:
    """What a run does with an accepted profile's values, short of a device."""
    profile = load_profile(path)
    for text in (profile.name, profile.product, *profile.label.lines, *profile.cloud.particle_groups):
        assert text.isprintable(), text  # what reaches the registry, terminals and labels
    for step in profile.tests:
        assert 0 < step.timeout_s <= 3600 and step.retries <= 100  # a slot is never held forever
        if step.kind == "memory":
            assert step.address is not None and 0 <= step.address < 2**32 and 0 <= step.mask < 2**32
            assert all(0 <= w < 2**32 for w in step.expect_words)
        if step.kind != "serial":
            continue
        # the request goes out as one JSON line, and its reply is matched by id and command
        request = json.loads(json.dumps({"id": 7, "cmd": step.cmd, **dict(step.args)}, allow_nan=False))
        assert request["id"] == 7 and request["cmd"] == step.cmd
        for value in (0.1, 3.9, "OK", True, None):
            judge_reply(step, Reply(ok=True, value=value, unit=step.unit, raw={step.field: value}))
        # a limit is a limit: a reading far outside it (or no number at all) never passes
        if step.high is not None:
            assert not judge_reply(step, Reply(ok=True, value=1e13, unit=step.unit)).passed
        if step.low is not None:
            assert not judge_reply(step, Reply(ok=True, value=-1e13, unit=step.unit)).passed
        if step.low is not None or step.high is not None:
            assert not judge_reply(step, Reply(ok=True, value=math.nan, unit=step.unit)).passed
    info = LabelData(
        device_id="e00fce68" + "0" * 16, serial_number="P" * 15, product=profile.product,
        profile=profile.name, lot="L1", date="2026-12-02",
    )
    for fmt in profile.label.formats:
        assert render_label(info, profile.label, fmt)
    pid = reg.ensure_product(
        name=profile.product, platform=profile.platform.name,
        particle_product=profile.cloud.particle_product, peridio_product_prn=profile.cloud.peridio_product_prn,
    )
    reg.ensure_profile(product_id=pid, path=str(path), sha256=profile.sha256, content=profile.text)
    reg.ensure_lot(f"lot-{profile.sha256[:8]}", product_id=pid)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), _values), min_size=1, max_size=3))
def test_any_profile_is_refused_cleanly_or_used_without_an_internal_error(
    tmp_path: Path, shared_registry: Registry, changes: list[tuple[tuple[str | int, ...], Any]]
) -> None:
    doc: dict[str, Any] = BASE
    for where, value in changes:
        doc = _apply(doc, where, value)
    text = to_toml(doc)
    code, err, exc = check(tmp_path, text)
    assert "Traceback" not in err
    assert code in (0, 2), (code, exc, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), lines
        assert all(line.isprintable() for line in lines), lines
        return
    _exercise(tmp_path / "p.toml", shared_registry)


def _apply(doc: dict[str, Any], where: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """``doc`` with ``value`` at ``where`` (a deep copy; datetimes survive, unlike the JSON copy)."""
    new: dict[str, Any] = _copy(doc)
    node: Any = new
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return new


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
