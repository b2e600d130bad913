"""Operator prompts at the command line (issue 15 items 1-2): asked on a terminal one at a time,
naming slot and device with the timeout; refused up front without a terminal and without answers;
a misspelt --answer refused with the closest name."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from station.cli.prompting import TerminalPrompter
from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware
from station.pipeline.prompts import PromptBroker, PromptState
from station.sim.bench import Bench, forget_twins

REPO = Path(__file__).resolve().parents[2]
DEMO_BORON = REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None), out


def test_the_terminal_asks_one_prompt_at_a_time_naming_slot_device_and_timeout() -> None:
    console, out = _console()
    r, w = os.pipe()
    stdin = os.fdopen(r, "r")
    broker = PromptBroker(responders=[TerminalPrompter(console, stdin)])
    results: dict[str, object] = {}

    def ask(slot: str) -> None:
        results[slot] = broker.ask(slot, f"e00fce68{slot * 16}", "led", "Is the status LED green?", 20.0)

    threads = [threading.Thread(target=ask, args=(s,)) for s in ("1", "2")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while out.getvalue().count("Is the status LED green?") < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert out.getvalue().count("Is the status LED green?") == 1, "the second prompt waits for the first"
    first = "1" if "slot 1" in out.getvalue() else "2"
    assert f"device e00fce68{first * 16}" in out.getvalue() and "s to answer" in out.getvalue()
    os.write(w, b"maybe\ny\n")  # not an answer: asked again; then yes
    deadline = time.monotonic() + 5
    while out.getvalue().count("Is the status LED green?") < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.write(w, b"n\n")
    for t in threads:
        t.join(5)
    other = "2" if first == "1" else "1"
    assert results[first].answer == "yes" and results[other].answer == "no"  # type: ignore[attr-defined]
    assert results[first].answered_by == "terminal"  # type: ignore[attr-defined]
    os.close(w)


def test_a_prompt_nobody_answers_on_the_terminal_times_out_and_says_so() -> None:
    console, out = _console()
    r, w = os.pipe()
    broker = PromptBroker(responders=[TerminalPrompter(console, os.fdopen(r, "r"))])
    p = broker.ask("3", None, "led", "Is the status LED green?", 0.5)
    assert p.state is PromptState.TIMED_OUT
    deadline = time.monotonic() + 2
    while "not answered within 0.5 s" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "slot 3: not answered within 0.5 s: led fails" in out.getvalue()
    os.close(w)


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    bench = Bench(tmp_path / "bench")
    twins = bench.create(1, seed=51)
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    env = {**os.environ, "STATION_SIM_DIR": str(bench.path), "STATION_CACHE": str(cache.root),
           "STATION_DB": f"sqlite:///{tmp_path / 'reg.db'}"}
    yield twins, env
    forget_twins(bench.path)


def _station(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=300)


def test_no_terminal_and_no_answers_is_refused_up_front_naming_the_prompts(setup) -> None:  # type: ignore[no-untyped-def]
    twins, env = setup
    before = bytes(twins[0].flash)
    out = _station("provision", "--profile", str(DEMO_BORON), "--lot", "L1", env=env)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "led" in lines[0] and "Is the status LED green?" in lines[0] and "--answer led=yes" in lines[0]
    assert "no terminal" in lines[0]
    assert bytes(twins[0].flash) == before  # nothing was flashed


def test_a_misspelt_answer_is_refused_with_the_closest_name(setup) -> None:  # type: ignore[no-untyped-def]
    _twins, env = setup
    out = _station("provision", "--profile", str(DEMO_BORON), "--answer", "ledd=yes", env=env)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "'ledd'" in out.stderr and "led" in out.stderr
    assert "did you mean 'led'?" in out.stderr
