"""Issue 10, item 14: a lot name is a name, never a path, wherever the station makes a file from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from station.errors import ConfigError
from station.paths import path_component
from station.sim.bench import Bench
from station.store.registry import Registry

from .conftest import Line

HOSTILE = ["../../x", "..", ".", "/etc/cron.d/x", "a/../../b", "..\\..\\win", "CON", "nul.txt", "-rf", ".hidden",
           "lot\u202eexe.gpj", "", " "]


@given(st.text(max_size=300))
def test_any_name_becomes_one_plain_component(name: str) -> None:
    part = path_component(name)
    assert part and part not in (".", "..") and not part.startswith(".")
    assert "/" not in part and "\\" not in part and "\x00" not in part and ":" not in part
    assert len(part) <= 80 + 9
    assert Path(part).name == part and not Path(part).is_absolute()
    assert path_component(name) == part  # the same lot always gets the same folder


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_inside_the_folder(tmp_path: Path, name: str) -> None:
    target = (tmp_path / path_component(name)).resolve()
    assert target.parent == tmp_path.resolve()


def test_safe_names_are_kept_and_names_that_clean_alike_stay_apart() -> None:
    assert path_component("LOT-0042") == "LOT-0042"
    assert path_component("widget-20261202-line1-st3") == "widget-20261202-line1-st3"
    assert path_component("A/1") != path_component("A:1") != path_component("A_1")


def test_a_lot_name_the_registry_cannot_hold_is_refused(registry: Registry) -> None:
    pid = registry.ensure_product(name="w", platform="boron", particle_product="1", peridio_product_prn=None)
    for bad in ("lot\x00x", "lot\nnext", "L" * 101):
        with pytest.raises(ConfigError):
            registry.ensure_lot(bad, product_id=pid)


def test_labels_of_a_lot_named_like_a_path_stay_in_the_labels_folder(line: Line, bench: Bench,
                                                                     tmp_path: Path) -> None:
    (twin,) = bench.create(1, seed=71)
    (result,) = line.swd([twin], lot="../../escaped")
    assert result.outcome == "passed", (result.failing_step, result.reason)
    labels = (tmp_path / "labels").resolve()
    assert result.labels
    for p in result.labels:
        assert Path(p).resolve().parent.parent == labels, p
    # nothing was written outside the labels folder by the run
    assert not (tmp_path.parent / "escaped").exists() and not (tmp_path.parent.parent / "escaped").exists()
    assert not any("escaped" in p.name and labels not in p.resolve().parents for p in tmp_path.rglob("*"))
    # the registry keeps the lot's name as the operator gave it
    assert line.registry.lots()[0].name == "../../escaped"
    assert os.path.isdir(labels)
