"""The boot model: what a twin runs after a reset, and the first-connect / key-lost events."""

from __future__ import annotations

from station.sim import boot
from station.sim.bench import Bench
from station.sim.device import Twin


def _kinds(twin: Twin) -> list[str]:
    return twin.events.kinds()


def _connects(twin: Twin) -> list[dict]:
    return [e for e in twin.events.read() if e["kind"] == "first_connect"]


def test_blank_device_boots_into_dfu(twin: Twin) -> None:
    st = boot.boot_device(twin, cause="power-on")
    assert st.run_state == "dfu"
    last = twin.events.read()[-1]
    assert last["kind"] == "boot" and last["cause"] == "power-on" and last["run_state"] == "dfu"
    assert "first_connect" not in _kinds(twin)


def test_product_firmware_connects_to_the_cloud(twin: Twin, demo) -> None:
    demo.install(twin, "user-product")
    st = boot.boot_device(twin, cause="usb-reset")
    assert (st.run_state, st.running_app) == ("running", "product")
    connects = _connects(twin)
    assert len(connects) == 1 and connects[0]["t"] > 0
    assert connects[0]["app"] == "product" and "AUTOMATIC" in connects[0]["reason"]


def test_factory_test_firmware_does_not_connect(twin: Twin, demo) -> None:
    demo.install(twin, "user-factory-test")
    st = boot.boot_device(twin, cause="swd-reset")
    assert (st.run_state, st.running_app) == ("running", "factory-test")
    assert "first_connect" not in _kinds(twin)


def test_unmet_dependency_means_safe_mode_which_connects(twin: Twin, demo) -> None:
    """Safe mode goes online for an OTA fix even though the user part is MANUAL factory-test."""
    demo.install(twin, "user-factory-test", skip=("softdevice",))
    st = boot.boot_device(twin, cause="dfu-leave")
    assert (st.run_state, st.running_app) == ("safe_mode", None)
    connects = _connects(twin)
    assert len(connects) == 1
    ev = connects[0]
    assert ev["run_state"] == "safe_mode" and ev["cause"] == "dfu-leave" and ev["app"] is None
    assert ev["platform"] == twin.platform.name
    boot_ev = [e for e in twin.events.read() if e["kind"] == "boot"][-1]
    assert ev["reason"] == boot_ev["reason"] and "radio" in ev["reason"].lower()


def test_invalid_user_part_means_safe_mode_which_connects(twin: Twin, demo) -> None:
    demo.install(twin, "user-factory-test")
    up = demo.images()["user-factory-test"]
    twin.flash[up.address + 0x100] ^= 0xFF  # the CRC no longer matches
    st = boot.boot_device(twin, cause="swd-reset")
    assert st.run_state == "safe_mode"
    connects = _connects(twin)
    assert len(connects) == 1 and connects[0]["reason"].startswith("user part invalid")


def test_safe_mode_connects_once_per_boot(twin: Twin, demo) -> None:
    demo.install(twin, "user-factory-test", skip=("softdevice",))
    for cause in ("power-on", "usb-reset", "swd-reset"):
        boot.boot_device(twin, cause=cause)
    assert [e["cause"] for e in _connects(twin)] == ["power-on", "usb-reset", "swd-reset"]
    assert _kinds(twin).count("boot") == 3


def test_no_user_part_means_safe_mode_which_connects(twin: Twin, demo) -> None:
    demo.install(twin, "user-factory-test", skip=("user-factory-test",))
    st = boot.boot_device(twin, cause="power-on")
    assert st.run_state == "safe_mode"
    assert [e["reason"] for e in _connects(twin)] == ["no user part"]


def test_corrupted_system_part_means_dfu(twin: Twin, demo) -> None:
    demo.install(twin, "user-product")
    sp = demo.images()["system-part1"]
    twin.flash[sp.address + 0x1000] ^= 0xFF
    assert boot.boot_device(twin, cause="power-on").run_state == "dfu"


def test_user_part_without_descriptor_is_unknown_and_assumed_to_connect(twin: Twin, demo) -> None:
    demo.install(twin, "user-product")
    up = demo.images()["user-product"]
    data = bytearray(up.data)
    pos = data.find(b"STNAPP1")
    assert pos > 0
    data[pos : pos + 7] = b"XXXXXXX"
    # A valid module from someone else's build: same layout, no descriptor, its own correct CRC.
    from station.firmware.module import crc32_be

    body_end = len(data) - 4
    data[body_end:] = crc32_be(bytes(data[:body_end]))
    twin.flash[up.address : up.end] = bytes(data)
    st = boot.boot_device(twin, cause="power-on")
    assert (st.run_state, st.running_app) == ("running", "unknown")
    assert "first_connect" in _kinds(twin)


def test_dfu_request_wins_once(twin: Twin, demo) -> None:
    demo.install(twin, "user-factory-test")
    twin.update_state(dfu_requested=True)
    st = boot.boot_device(twin, cause="usb-reset")
    assert st.run_state == "dfu" and not st.dfu_requested
    assert boot.boot_device(twin, cause="usb-reset").run_state == "running"


def test_unplugged_twin_does_not_boot(twin: Twin, demo) -> None:
    demo.install(twin, "user-product")
    twin.unplug()
    assert boot.boot_device(twin, cause="swd-reset").run_state == "off"
    assert "first_connect" not in _kinds(twin)


def test_plugging_in_powers_on_and_boots(bench: Bench, demo) -> None:
    t = bench.create(1, seed=2)[0]
    demo.install(t, "user-factory-test")
    bench.unplug(t.name)
    bench.plug(t.name)
    boots = [e for e in t.events.read() if e["kind"] == "boot"]
    assert boots[-1]["cause"] == "power-on" and boots[-1]["running_app"] == "factory-test"


def test_erasing_the_dct_loses_the_key(twin: Twin) -> None:
    assert twin.key_present()
    twin.erase_ext(0x200000, 0x1000)  # outside the filesystem's blocks: the key survives
    assert "key_lost" not in _kinds(twin) and twin.key_present()
    twin.erase_ext(0x0, 0x1000)  # the filesystem's first block: the DCT goes with it
    assert not twin.key_present()
    assert _kinds(twin).count("key_lost") == 1
