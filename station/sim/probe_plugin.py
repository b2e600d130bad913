"""pyocd's entry point for the twins' debug probes: loaded only where a simulated bench is configured.

pyocd imports every ``pyocd.probe`` entry point's module and asks its plugin ``should_load()``
before it lists probes (``pyocd/core/plugin.py``). This module is that entry point, and it is
light on purpose: on a real line (no ``STATION_SIM_DIR``, no bench chosen in the process) the
plugin declines, and listing probes imports none of the simulator (the probe, the chip model,
the twin's files). Where a bench is configured, :meth:`SimProbePlugin.load` hands pyocd
:class:`station.sim.probe.SimProbe`.

pyocd asks once, when ``pyocd.probe.aggregator`` is first imported. A process that chooses its
bench later (``station.hw.backend.use_sim``, a test's fixture) calls :func:`register_with_pyocd`
through :func:`station.sim.bench.set_default_bench`, which adds the probe class the way pyocd's
own loader would have.
"""

from __future__ import annotations

import sys

if "pyocd" not in sys.modules:
    # Imported before pyocd: importing pyocd loads its probe plugins, this module among them, and
    # would find it half-initialised. Step aside so that nested import builds the complete module
    # (the import system then returns that one); put ourselves back if pyocd did not load us.
    _outer = sys.modules.pop(__name__)
    import pyocd  # noqa: F401

    sys.modules.setdefault(__name__, _outer)

from typing import Any

from pyocd.core.plugin import Plugin

from station import settings

NAME = "sim"


def bench_configured() -> bool:
    """True where this process talks to twins: ``STATION_SIM_DIR`` names a bench, or one was chosen in process.

    The in-process choice is read from :mod:`station.sim.bench` only if something imported it
    already: asking must not import the simulator.
    """
    if settings.get("sim_dir"):
        return True
    bench = sys.modules.get("station.sim.bench")
    return bool(bench is not None and getattr(bench, "_default_set", False))


class SimProbePlugin(Plugin):
    """pyocd plugin entry: ``-u <probe uid>`` or ``-u sim:<probe uid>`` selects a twin."""

    def should_load(self) -> bool:
        return bench_configured()

    def load(self) -> Any:
        from station.sim.probe import SimProbe

        return SimProbe

    @property
    def name(self) -> str:
        return NAME

    @property
    def description(self) -> str:
        return "Station digital twins (simulated nRF52840 boards behind a debug probe)"


def register_with_pyocd() -> None:
    """Give an already imported pyocd the twins' probe class (its plugin declined when asked).

    Does nothing when pyocd is not imported yet: it will ask :meth:`SimProbePlugin.should_load`
    itself, and the answer is yes by then.
    """
    aggregator = sys.modules.get("pyocd.probe.aggregator")
    if aggregator is None:
        return
    classes: dict[str, Any] = aggregator.PROBE_CLASSES
    if NAME not in classes:
        classes[NAME] = SimProbePlugin().load()
