"""The twin's normal-mode vendor requests as a plain pyusb program sees them (no station client).

Every expectation here is Device OS's behaviour (device-os v5.9.0 system/src/usb_control_request_channel.cpp,
system/src/system_control_internal.cpp, system/src/control/config.cpp), written out as raw transfers.
"""

from __future__ import annotations

import errno
import struct

import pytest
import usb.core

from station.firmware.demo import (
    BOOTLOADER_DEPENDENCY,
    BOOTLOADER_VERSION,
    DEVICE_OS_VERSION,
)
from station.protocol import ctrl_messages as pb
from station.protocol.usb_control import ServiceReply, ServiceStatus
from station.sim.bench import Bench
from station.sim.boot import boot_device
from station.sim.device import Twin
from station.sim.usb_backend import SimUsbBackend
from tests.sim.conftest import DemoFirmware

#: a bootloader newer than the demo Device OS's, and one older than it depends on
NEWER = BOOTLOADER_VERSION + 1
OLDER = BOOTLOADER_DEPENDENCY - 100

pytestmark = pytest.mark.timeout(120)

IN, OUT = 0xC0, 0x40
#: the only raw (bRequest 0x50) requests Device OS has: IN 20, 30; OUT 40, 302
RAW_IN_OK = {20, 30}
RAW_OUT_OK = {40, 302}


@pytest.fixture
def running(bench: Bench, twin: Twin, demo: DemoFirmware) -> Twin:
    demo.install(twin, "user-factory-test")
    boot_device(twin, cause="power-on")
    assert twin.state.run_state == "running"
    return twin


def _dev(bench: Bench, twin: Twin) -> usb.core.Device:
    dev = usb.core.find(backend=SimUsbBackend(bench), custom_match=lambda d: d.serial_number == twin.device_id)
    assert dev is not None
    return dev


def _stalls(fn: object) -> bool:
    try:
        fn()  # type: ignore[operator]
    except usb.core.USBError as exc:
        return exc.errno == errno.EPIPE
    return False


def _service(dev: usb.core.Device, request: int, index: int, value: int = 0) -> ServiceReply:
    return ServiceReply.decode(bytes(dev.ctrl_transfer(IN, request, value, index, 64)))


def test_raw_device_id_is_upper_case_hex_and_version_is_the_release(bench: Bench, running: Twin) -> None:
    dev = _dev(bench, running)
    assert bytes(dev.ctrl_transfer(IN, 0x50, 0, 20, 64)).decode() == running.device_id.upper()
    assert bytes(dev.ctrl_transfer(IN, 0x50, 0, 30, 64)).decode() == DEVICE_OS_VERSION
    assert _stalls(lambda: dev.ctrl_transfer(IN, 0x50, 0, 20, 8))  # too short a buffer for 24 characters


def test_every_raw_request_device_os_lacks_stalls(bench: Bench, running: Twin) -> None:
    dev = _dev(bench, running)
    generation = running.state.generation
    # the request types the old invented protocol answered are among them: 50, 70, 73, 74, 90
    for req_type in range(0, 1100):
        if req_type not in RAW_IN_OK:
            assert _stalls(lambda t=req_type: dev.ctrl_transfer(IN, 0x50, 0, t, 64)), f"raw IN {req_type}"
        if req_type not in RAW_OUT_OK:
            assert _stalls(lambda t=req_type: dev.ctrl_transfer(OUT, 0x50, 1, t, b"")), f"raw OUT {req_type}"
    for req_type in RAW_IN_OK:
        assert _stalls(lambda t=req_type: dev.ctrl_transfer(IN, 0x50, 0, t, 0))  # no data stage
    # service bRequests 6..15 are reserved but undefined; other vendor bRequests are not Particle's
    for request in [*range(6, 16), 0x00, 0x4F, 0x51, 0xEE, 0xFF]:
        assert _stalls(lambda r=request: dev.ctrl_transfer(IN, r, 0, 0, 64)), f"IN bRequest {request:#x}"
        assert _stalls(lambda r=request: dev.ctrl_transfer(OUT, r, 0, 0, b"")), f"OUT bRequest {request:#x}"
    assert running.state.generation == generation  # none of them did anything to the device


def test_raw_reset_resets_inside_the_request(bench: Bench, running: Twin) -> None:
    dev = _dev(bench, running)
    generation = running.state.generation
    with pytest.raises(usb.core.USBError) as err:
        dev.ctrl_transfer(OUT, 0x50, 0, 40, b"")
    assert err.value.errno == errno.ENODEV  # the host never sees the status stage
    assert running.state.generation > generation
    assert running.events.read()[-1]["kind"] == "boot"


def test_service_request_init_check_recv(bench: Bench, running: Twin) -> None:
    dev = _dev(bench, running)
    init = _service(dev, 1, 20)  # INIT DEVICE_ID, no payload
    assert init.status == ServiceStatus.OK and init.id
    check = _service(dev, 2, init.id)
    assert check.status == ServiceStatus.OK and check.result == 0 and check.size
    reply = pb.decode(pb.GetDeviceIdReply, bytes(dev.ctrl_transfer(IN, 4, 0, init.id, check.size)))
    assert reply.id == running.device_id  # lower-case through the service protocol
    assert _service(dev, 2, init.id).status == ServiceStatus.NOT_FOUND  # finished once the reply was read


def test_five_requests_in_flight_get_busy_and_reset_cancels(bench: Bench, running: Twin) -> None:
    dev = _dev(bench, running)
    ids = []
    for _ in range(4):  # payload announced but not sent: each stays active
        rep = _service(dev, 1, 73, value=2)
        assert rep.status == ServiceStatus.OK
        ids.append(rep.id)
    assert _service(dev, 1, 73, value=2).status == ServiceStatus.BUSY
    assert _service(dev, 5, ids[0]).status == ServiceStatus.OK  # cancel one
    assert _service(dev, 2, ids[0]).status == ServiceStatus.NOT_FOUND
    assert _service(dev, 1, 73, value=2).status == ServiceStatus.OK
    assert _service(dev, 5, 0).status == ServiceStatus.OK  # cancel all
    assert all(_service(dev, 2, i).status == ServiceStatus.NOT_FOUND for i in ids)
    assert _stalls(lambda: dev.ctrl_transfer(IN, 1, 0, 20, 8))  # INIT needs a 64-byte data stage


def test_large_payload_is_pending_until_the_buffer_exists(bench: Bench, running: Twin) -> None:
    dev = _dev(bench, running)
    payload = b"x" * 200
    init = _service(dev, 1, 1, value=len(payload))  # ECHO with a 200-byte payload
    assert init.status == ServiceStatus.PENDING
    assert _service(dev, 2, init.id).status == ServiceStatus.OK  # buffer allocated: send now
    assert _stalls(lambda: dev.ctrl_transfer(OUT, 3, 0, init.id, payload + b"!"))  # more than announced
    dev.ctrl_transfer(OUT, 3, 0, init.id, payload)
    check = _service(dev, 2, init.id)
    assert (check.status, check.result, check.size) == (ServiceStatus.OK, 0, 200)
    assert _stalls(lambda: dev.ctrl_transfer(IN, 4, 0, init.id, 201))  # past the reply
    assert bytes(dev.ctrl_transfer(IN, 4, 0, init.id, 200)) == payload


def _call(dev: usb.core.Device, req_type: int, payload: bytes = b"") -> tuple[int, bytes]:
    init = _service(dev, 1, req_type, value=len(payload))
    if payload:
        if init.status == ServiceStatus.PENDING:
            assert _service(dev, 2, init.id).status == ServiceStatus.OK
        dev.ctrl_transfer(OUT, 3, 0, init.id, payload)
    check = _service(dev, 2, init.id)
    assert check.status == ServiceStatus.OK
    data = bytes(dev.ctrl_transfer(IN, 4, 0, init.id, check.size)) if check.size else b""
    return int(check.result or 0), data


def test_keys_are_never_handed_out_and_unknown_types_are_not_supported(bench: Bench, running: Twin) -> None:
    dev = _dev(bench, running)
    assert _call(dev, 211, struct.pack("<BB", 0x08, 1))[0] == -120  # GET_SECURITY_KEY
    assert _call(dev, 210)[0] == -120  # SET_SECURITY_KEY
    assert _call(dev, 9999)[0] == -120
    assert _call(dev, 73, b"\xff\xff")[0] == -280  # not a SetDeviceSetupDoneRequest: BAD_DATA


def test_dfu_mode_resets_after_the_reply_was_read(bench: Bench, running: Twin) -> None:
    dev = _dev(bench, running)
    init = _service(dev, 1, 50)
    assert running.state.run_state == "running"
    check = _service(dev, 2, init.id)  # the reply (no payload) goes out; then the device resets
    assert check.result == 0
    assert running.state.run_state == "dfu"
    with pytest.raises(usb.core.USBError):
        _service(dev, 2, init.id)


def test_firmware_update_refuses_a_module_for_another_platform(bench: Bench, running: Twin, demo: DemoFirmware) -> None:
    from station.firmware.demo_updates import build_bootloader_module

    dev = _dev(bench, running)
    data = build_bootloader_module("argon", NEWER)
    result, reply = _call(dev, 250, pb.StartFirmwareUpdateRequest(size=len(data)).SerializeToString())
    assert result == 0 and pb.decode(pb.StartFirmwareUpdateReply, reply).chunk_size == 1024
    for offset in range(0, len(data), 1024):
        chunk = pb.FirmwareUpdateDataRequest(data=data[offset : offset + 1024]).SerializeToString()
        assert _call(dev, 253, chunk)[0] == 0
    generation = running.state.generation
    assert _call(dev, 251, pb.FinishFirmwareUpdateRequest().SerializeToString())[0] == -1360  # invalid platform
    assert running.state.generation == generation and "ota_staged" not in running.events.kinds()
    assert _call(dev, 253, chunk)[0] == -210  # the transfer was cancelled: INVALID_STATE


def test_setup_done_is_a_real_flag_before_device_os_4(
    bench: Bench, running: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    import station.sim.control_handlers as handlers

    monkeypatch.setattr(handlers, "system_module_version", lambda twin: 3301)  # Device OS 3.3.1
    dev = _dev(bench, running)
    result, reply = _call(dev, 74)
    assert result == 0 and pb.decode(pb.IsDeviceSetupDoneReply, reply).done is False
    assert _call(dev, 73, pb.SetDeviceSetupDoneRequest(done=True).SerializeToString())[0] == 0
    assert running.state.setup_done
    assert pb.decode(pb.IsDeviceSetupDoneReply, _call(dev, 74)[1]).done is True
    assert _call(dev, 73, pb.SetDeviceSetupDoneRequest(done=False).SerializeToString())[0] == 0
    assert not running.state.setup_done
