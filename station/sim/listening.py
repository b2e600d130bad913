"""Listening mode of a twin's Device OS: entering it and leaving it, from USB or from the serial console.

Listening mode (blinking blue) stops the cloud connection attempt and serves the setup console;
leaving it (``x`` on the console, STOP_LISTENING over USB, ``network_listen(EXIT)``) resumes what
the firmware was doing without a reset. Resuming is not harmless: product firmware in AUTOMATIC
mode, or safe mode, connects right after — recorded as ``first_connect`` like a boot that connects.
"""

from __future__ import annotations

from station.sim.device import State, Twin

LISTENING = "listening"


def start_listening(twin: Twin, *, cause: str) -> State:
    with twin.lock:
        st = twin.state
        if st.run_state == LISTENING:
            return st
        new = twin.update_state(run_state=LISTENING, running_app=None)
        twin.events.record("listening", cause=cause)
        return new


def leave_listening(twin: Twin, *, cause: str) -> State:
    """Back to what the flash makes the device do; a no-op outside listening mode."""
    from station.sim.boot import decide

    with twin.lock:
        st = twin.state
        if st.run_state != LISTENING:
            return st
        decision = decide(twin)
        if decision.run_state == "dfu":  # nothing runnable: Device OS itself is gone (cannot happen while it runs)
            return st
        new = twin.update_state(run_state=decision.run_state, running_app=decision.running_app)
        twin.events.record("listening_exit", cause=cause, run_state=decision.run_state)
        if decision.connects:
            twin.events.record(
                "first_connect", cause=cause, run_state=decision.run_state, app=decision.running_app,
                platform=twin.platform.name, reason=f"left listening mode: {decision.reason}",
            )  # fmt: skip
        return new
