"""A twin notices state and fault changes made elsewhere without a system call per DAP transfer.

Every face asks ``current_state()`` / ``current_faults()`` on each transfer. Changes made through
another ``Twin`` object (another process, ``station sim unplug``/``fault``) bump a shared counter
and are seen at once; a hand edit of ``faults.json`` (no counter) is seen within ``RECHECK_S``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from unittest import mock

from station.sim.bench import Bench
from station.sim.device import RECHECK_S, Twin


def test_a_change_through_another_twin_object_is_seen_at_the_next_call(bench: Bench, twin: Twin) -> None:
    other = Twin(twin.path)  # what another process holds
    try:
        assert twin.current_state().plugged and twin.current_faults().swd_fault_rate in (None, 0, 0.0)
        other.update_state(plugged=False)
        assert twin.current_state().plugged is False
        other.set_faults(swd_fault_rate=0.25)
        assert twin.current_faults().swd_fault_rate == 0.25
    finally:
        other.close()


def test_no_stat_per_call_while_nothing_changes(bench: Bench, twin: Twin) -> None:
    twin.current_state(), twin.current_faults()
    with mock.patch("station.sim.device.os.stat", side_effect=AssertionError("stat on the hot path")):
        for _ in range(1000):
            twin.current_state()
            twin.current_faults()


def test_a_hand_edited_faults_file_is_still_picked_up(bench: Bench, twin: Twin) -> None:
    assert twin.current_faults().swd_wait_rate in (None, 0, 0.0)
    path = Path(twin.path) / "faults.json"
    raw = json.loads(path.read_text())
    raw["swd_wait_rate"] = 0.5
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(raw))
    os.replace(tmp, path)  # no counter bump: a person with an editor
    deadline = time.monotonic() + RECHECK_S + 2.0
    while twin.current_faults().swd_wait_rate != 0.5:
        assert time.monotonic() < deadline, "hand edit never noticed"
        time.sleep(0.05)
