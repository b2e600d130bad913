"""A bench: a folder of twins, the simulated equivalent of a rack of devices on USB hubs and probes.

Every face of a twin (SWD probe plugin, USB backend, serial pty, CLI) finds devices through a
bench. Twins are opened once per process per folder and cached, because a :class:`Twin` owns
mmaps, an in-process ``RLock`` and (when a probe is open) an OS file lock: two ``Twin`` objects for
the same folder in one process would not serialise against each other.

The *default bench* is what pyocd's probe discovery and the USB backend look at when nobody passes
a bench explicitly: env ``STATION_SIM_DIR``, or :func:`set_default_bench` in-process (tests).
"""

from __future__ import annotations

import random
import sys
import threading
from pathlib import Path

from station import settings
from station.sim.device import Twin
from station.sim.probe_usb import probe_model

ENV_DIR = settings.env_var("sim_dir")
ENV_REALTIME = settings.env_var("sim_realtime")

_cache_lock = threading.RLock()
#: resolved twin folder -> opened Twin, shared by every Bench object in this process
_twin_cache: dict[Path, Twin] = {}
_default_override: Path | None = None
_default_set = False


class Bench:
    """A folder holding one sub-folder per twin. Cheap to construct; twins are opened lazily."""

    def __init__(self, path: Path | str, *, realtime: bool | None = None) -> None:
        self.path = Path(path).resolve()
        if realtime is None:
            realtime = bool(settings.get("sim_realtime"))
        #: realtime mode: twins opened through this bench sleep so wall time tracks device time
        self.realtime = realtime

    def __repr__(self) -> str:
        return f"Bench({str(self.path)!r})"

    # ------------------------------------------------------------------ creation
    def create(
        self,
        n: int,
        platform: str = "boron",
        *,
        seed: int | None = None,
        prefix: str = "twin",
        approtect: bool = False,
        deviceid: tuple[int, int] | None = None,
        blank: bool = False,
        build_code: str = "D",
        probe: str = "ideal",
    ) -> list[Twin]:
        """Create ``n`` twins named ``<prefix>NN`` after the highest existing index.

        They arrive as from the module maker (MBR, bootloader, UICR.NRFFW: :func:`station.sim.stock.ship_stock`)
        unless ``blank``: a chip fresh from Nordic, which never boots and has no USB face.
        ``build_code`` "F" makes hardened-APPROTECT silicon (FICR INFO.VARIANT "AAF0"). ``probe`` names
        the debug probe's USB model (:data:`station.sim.probe_usb.PROBE_CHOICES`; ``ideal`` charges SWD
        wire time only).

        A seed makes the whole batch reproducible (each twin gets its own derived seed) so test
        benches have stable device IDs. ``deviceid`` (FICR DEVICEID words) forces one ID on every
        new twin: the duplicated-ID fault a station must notice.
        """
        probe_model(probe)  # an unknown name fails before any twin is made
        self.path.mkdir(parents=True, exist_ok=True)
        rng = random.Random(seed) if seed is not None else None
        existing = {p.name for p in self.path.iterdir() if p.is_dir()}
        made: list[Twin] = []
        index = 1
        with _cache_lock:
            while len(made) < n:
                name = f"{prefix}{index:02d}"
                index += 1
                if name in existing:
                    continue
                twin_seed = rng.getrandbits(64) if rng is not None else None
                twin = Twin.create(
                    self.path,
                    name,
                    platform,
                    seed=twin_seed,
                    deviceid=deviceid,
                    approtect=approtect,
                    build_code=build_code,
                )
                if not blank:
                    _stock(twin)
                if self.realtime:
                    twin.update_state(realtime=True)
                if probe != "ideal":
                    twin.update_state(probe_model=probe)
                self._adopt(twin)
                made.append(twin)
        return made

    def create_one(
        self,
        name: str,
        platform: str = "boron",
        *,
        seed: int | None = None,
        deviceid: tuple[int, int] | None = None,
        approtect: bool = False,
        blank: bool = False,
        build_code: str = "D",
    ) -> Twin:
        """Create one twin with an explicit name (and optionally explicit FICR DEVICEID words); see :meth:`create`."""
        self.path.mkdir(parents=True, exist_ok=True)
        with _cache_lock:
            twin = Twin.create(
                self.path, name, platform, seed=seed, deviceid=deviceid, approtect=approtect, build_code=build_code
            )
            if not blank:
                _stock(twin)
            return self._adopt(twin)

    def _adopt(self, twin: Twin) -> Twin:
        key = twin.path.resolve()
        if self.realtime:
            twin.realtime = True
        _twin_cache[key] = twin
        return twin

    # ------------------------------------------------------------------ lookup
    def names(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if (p / "identity.json").is_file())

    def twins(self) -> list[Twin]:
        """Every twin on the bench (plugged or not), sorted by name, opened once per process."""
        return [self._open(self.path / name) for name in self.names()]

    def _open(self, folder: Path) -> Twin:
        key = folder.resolve()
        with _cache_lock:
            twin = _twin_cache.get(key)
            if twin is None:
                twin = Twin.open(key)
                _twin_cache[key] = twin
            if self.realtime:
                twin.realtime = True
            return twin

    def get(self, name: str) -> Twin:
        """The twin called ``name``; ``KeyError`` if there is none."""
        folder = self.path / name
        if not (folder / "identity.json").is_file():
            raise KeyError(f"no twin named {name!r} in {self.path}")
        return self._open(folder)

    def by_probe_uid(self, uid: str) -> Twin | None:
        for twin in self.twins():
            if twin.identity.probe_uid.lower() == uid.lower():
                return twin
        return None

    def by_device_id(self, device_id: str) -> list[Twin]:
        """All twins with this device ID (a list: duplicated IDs are a fault we model)."""
        did = device_id.lower()
        return [t for t in self.twins() if t.device_id == did]

    # ------------------------------------------------------------------ hotplug
    def plug(self, name: str) -> Twin:
        twin = self.get(name)
        from station.sim.boot import power_on  # local import: boot needs firmware parsing

        twin.plug()
        power_on(twin)
        return twin

    def unplug(self, name: str) -> Twin:
        """The unit and its probe leave (see :meth:`Twin.unplug`)."""
        twin = self.get(name)
        twin.unplug()
        return twin

    def lift(self, name: str) -> Twin:
        """The unit is taken out of its fixture; its probe stays (see :meth:`Twin.lift`)."""
        twin = self.get(name)
        twin.lift()
        return twin

    def pull_probe(self, name: str) -> Twin:
        """The slot's probe leaves; the unit stays (see :meth:`Twin.pull_probe`)."""
        twin = self.get(name)
        twin.pull_probe()
        return twin

    def attach_probe(self, name: str) -> Twin:
        """The slot's probe is back on the station's USB."""
        twin = self.get(name)
        twin.update_state(probe_attached=True)
        twin.events.record("probe_attached")
        return twin


def _stock(twin: Twin) -> None:
    from station.sim.approtect import bootloader_opens_port
    from station.sim.boot import decide
    from station.sim.stock import ship_stock  # builds the demo bootloader: only when asked

    ship_stock(twin)
    # powered on the bench: the bootloader's DFU mode (and on an F part, its port opened by it)
    twin.update_state(run_state=decide(twin).run_state, ap_open=bootloader_opens_port(twin))


def set_default_bench(path: Path | str | None) -> None:
    """Make ``path`` the bench that probe discovery and the USB backend use in this process.

    ``None`` goes back to following ``STATION_SIM_DIR``.
    """
    global _default_override, _default_set
    with _cache_lock:
        _default_override = Path(path).resolve() if path is not None else None
        _default_set = path is not None
    if path is not None and "pyocd.probe.aggregator" in sys.modules:
        # pyocd asked the probe plugin before this bench was chosen, and it declined then
        from station.sim.probe_plugin import register_with_pyocd

        register_with_pyocd()


def default_bench() -> Bench | None:
    """The bench set in-process, else the one in ``STATION_SIM_DIR``, else ``None`` (no simulation)."""
    with _cache_lock:
        if _default_set and _default_override is not None:
            return Bench(_default_override)
    env = settings.get("sim_dir")
    return Bench(env) if env else None


def forget_twins(path: Path | str | None = None) -> None:
    """Close and drop cached twins (all, or those under ``path``). For tests that delete benches."""
    root = Path(path).resolve() if path is not None else None
    with _cache_lock:
        for key in list(_twin_cache):
            if root is None or key.parent == root:
                twin = _twin_cache.pop(key)
                if "station.sim.chip" in sys.modules:  # the chip's core maps the twin's memory
                    sys.modules["station.sim.chip"].drop_chip(twin)
                twin.close()
