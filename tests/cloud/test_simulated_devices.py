"""A twin's device ID never reaches a real cloud: simulated devices are marked and held back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cloud_cli import make_cli
from fake_cloud import FakeParticle, FakePeridio
from outbox_helpers import device_ids

from station.cloud.http import is_local_url
from station.cloud.particle import ParticleClient
from station.cloud.peridio import PeridioClient
from station.cloud.sync import Drainer
from station.store import Registry, open_registry
from station.store.records import CloudTargets

BOTH = CloudTargets(particle_product="widget-1", peridio_product_prn="prn:1:org:product:widget")


pytestmark = pytest.mark.usefixtures("no_keyring")


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    r = open_registry(f"sqlite:///{tmp_path / 'station.db'}")
    yield r
    r.close()


def register(reg: Registry, ids: list[str], *, simulated: bool) -> list[str]:
    pid = reg.ensure_product(name="widget", platform="boron", particle_product=BOTH.particle_product,
                             peridio_product_prn=BOTH.peridio_product_prn)
    prof = reg.ensure_profile(product_id=pid, path="widget.toml", sha256="ab" * 32, content="[product]")
    lot_id = reg.ensure_lot("LOT-1", product_id=pid)
    for did in ids:
        a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot_id, profile_id=prof, station="st1",
                              slot="1", operator="ana", transport="swd", overrides=[], simulated=simulated)
        reg.register_passed(a, product_id=pid, lot_id=lot_id, cloud=BOTH)
    return ids


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(make_cli(), args, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:8080", True), ("http://localhost:1", True), ("http://[::1]:9", True),
    ("http://127.3.4.5", True), ("https://api.particle.io", False), ("https://api.peridio.com", False),
    ("http://10.0.0.7:8080", False), ("http://localhost.example.com", False),
])
def test_only_an_api_on_this_machine_counts_as_a_twin_cloud(url: str, local: bool) -> None:
    assert is_local_url(url) is local


def test_the_registry_marks_a_simulated_device_for_good(reg: Registry) -> None:
    (real,) = register(reg, device_ids(1), simulated=False)
    (twin,) = register(reg, device_ids(1, start=10), simulated=True)
    rec_real, rec_twin = reg.device_record(real), reg.device_record(twin)
    assert rec_real is not None and rec_twin is not None
    assert (rec_real.simulated, rec_twin.simulated) == (False, True)
    # a later run that does not say "simulated" (a bug, a real bench reusing the ID) cannot unmark it
    register(reg, [twin], simulated=False)
    assert reg.device_record(twin).simulated is True  # type: ignore[union-attr]


def test_a_drain_to_a_real_cloud_holds_simulated_devices_back(reg: Registry, fake_particle: FakeParticle,
                                                              fake_peridio: FakePeridio) -> None:
    real = register(reg, device_ids(2), simulated=False)
    twins = register(reg, device_ids(3, start=10), simulated=True)
    drainer = Drainer(reg, particle=ParticleClient(fake_particle.secret, fake_particle.url),
                      peridio=PeridioClient(fake_peridio.secret, fake_peridio.url))
    report = drainer.drain_once()
    assert set(fake_particle.import_counts) == set(real)
    assert set(fake_peridio.create_counts) == set(real)
    assert report.imported == 4 and report.held_back == 6  # 3 twins x 2 targets
    assert reg.outbox_simulated_pending() == 6
    # the same queue drained into twin clouds sends the twins too
    both = frozenset({"particle", "peridio"})
    report = Drainer(reg, particle=ParticleClient(fake_particle.secret, fake_particle.url),
                     peridio=PeridioClient(fake_peridio.secret, fake_peridio.url), simulated_ok=both).drain_once()
    assert report.held_back == 0 and set(fake_particle.import_counts) == set(real) | set(twins)


def test_cloud_sync_to_the_real_particle_sends_no_twin_and_says_so(reg: Registry, tmp_path: Path) -> None:
    register(reg, device_ids(3), simulated=True)
    url = f"sqlite:///{tmp_path / 'station.db'}"
    env = {"PARTICLE_ACCESS_TOKEN": "a" * 40, "PERIDIO_API_KEY": "b" * 40}
    # nothing is ready for a real cloud, so no request is made (none could reach it from a test anyway)
    code, out, err = run(["cloud", "sync", "--db", url], env)
    assert code == 0, err
    assert "0 requests" in out and "held back 6 entries of simulated devices" in err
    code, out, _ = run(["cloud", "sync", "--db", url, "--json"], env)
    assert json.loads(out)["held_back_simulated"] == 6
    code, out, err = run(["cloud", "sync", "--db", url, "--dry-run"], env)
    assert code == 0 and "0 ready now, 3 simulated held back" in out and "held back 6" in err
    code, out, _ = run(["cloud", "sync", "--db", url, "--dry-run", "--json", "--api-url", "http://127.0.0.1:9"], env)
    lines = {ln["target"]: ln for ln in json.loads(out)}
    assert lines["particle"]["ready"] == 3 and "held_back_simulated" not in lines["particle"]
    assert lines["peridio"]["ready"] == 0 and lines["peridio"]["held_back_simulated"] == 3
    assert reg.outbox_simulated_pending() == 6
