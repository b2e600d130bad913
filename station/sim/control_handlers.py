"""What a twin's Device OS does with each control request once the service protocol delivered it.

The dispatch mirrors ``SystemControl::processRequest`` (device-os v5.9.0
``system/src/system_control_internal.cpp``) and the handlers it calls in ``system/src/control/``
(``config.cpp``, ``storage.cpp``); replies are the protobuf messages of device-os-protobuf.
A request type the twin does not model answers ``SYSTEM_ERROR_NOT_SUPPORTED`` — what Device OS
answers for a type it has no handler for and no application handler takes — and so do the ones
Device OS itself refuses (SET/GET_SECURITY_KEY: Device OS never hands out or accepts a key this way).

Modelled: ECHO, DEVICE_ID (lower-case, as ``bytes2hexbuf_lower_case``), SERIAL_NUMBER,
SYSTEM_VERSION, NCP_FIRMWARE_VERSION (Argon/Tracker), RESET, FACTORY_RESET, DFU_MODE, SAFE_MODE,
START/STOP_LISTENING, GET_DEVICE_MODE, SET/IS_DEVICE_SETUP_DONE (a real DCT flag before Device OS
4.0; from 4.0 on "done" is always true and clearing it is NOT_SUPPORTED, ``config.cpp``),
GET_MODULE_INFO (the 5.6.0+ ``particle.cloud.FirmwareModule`` list), the firmware update requests
250–253 and CLOUD_DISCONNECT. Resets happen in the completion handler, i.e. after the host has
received the reply, as ``setResult(req, 0, [](…){ HAL_Delay_Milliseconds(1000); System.reset(); })``
does (the 1 s delay is charged to device time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from station.protocol import ctrl_messages as pb
from station.protocol.usb_control import RequestType, SystemError
from station.sim.device import Twin
from station.sim.firmware_view import system_module_version, system_version
from station.sim.ota import CHUNK_SIZE, FirmwareUpdate

#: Device OS waits this long in the completion handler before it resets (config handlers above)
RESET_DELAY_S = 1.0
#: the first Device OS release without a DCT setup-done flag (device-os d50b350, in v4.0.0)
SETUP_DONE_DEPRECATED_SINCE = 4000


@dataclass
class Outcome:
    """A handler's answer: system_error_t, reply payload, what runs after the reply, device time."""

    result: int
    reply: bytes = b""
    completion: Callable[[], None] | None = None
    cost_s: float = 0.0


def _reply(msg: object) -> bytes:
    return msg.SerializeToString()  # type: ignore[attr-defined, no-any-return]


class DeviceOsControl:
    """The request handlers of one running Device OS (one per enumeration: a reset forgets state)."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.update = FirmwareUpdate(twin)

    def handle(self, req_type: int, payload: bytes) -> Outcome:
        method = _HANDLERS.get(req_type)
        if method is None:
            return Outcome(SystemError.NOT_SUPPORTED)
        try:
            return method(self, payload)
        except ValueError:  # the payload is not the request's protobuf message
            return Outcome(SystemError.BAD_DATA)

    def _decode(self, req_type: RequestType, payload: bytes) -> object:
        cls = pb.REQUESTS[req_type][0]
        return pb.decode(cls, payload)

    # ------------------------------------------------------------------ identity and versions
    def echo(self, payload: bytes) -> Outcome:
        return Outcome(SystemError.NONE, payload)

    def device_id(self, payload: bytes) -> Outcome:
        return Outcome(SystemError.NONE, _reply(pb.GetDeviceIdReply(id=self.twin.device_id.lower())))

    def serial_number(self, payload: bytes) -> Outcome:
        serial = self.twin.serial_number()  # OTP 0, hal_get_device_serial_number
        if not serial or not serial.isprintable():
            return Outcome(-1)  # hal_get_device_serial_number's -1 is passed through as the result
        return Outcome(SystemError.NONE, _reply(pb.GetSerialNumberReply(serial=serial)))

    def system_version(self, payload: bytes) -> Outcome:
        return Outcome(SystemError.NONE, _reply(pb.GetSystemVersionReply(version=system_version(self.twin))))

    def ncp_version(self, payload: bytes) -> Outcome:
        from station.sim.ncp import has_ncp, ncp_version

        version = ncp_version(self.twin)
        if not has_ncp(self.twin):
            return Outcome(SystemError.NOT_SUPPORTED)
        if version is None:
            return Outcome(SystemError.UNKNOWN)
        text = f"0.0.{version}"
        return Outcome(SystemError.NONE, _reply(pb.GetNcpFirmwareVersionReply(version=text, module_version=version)))

    # ------------------------------------------------------------------ modes and resets
    def _boot_after(self, cause: str, *, dfu: bool = False, safe_mode: bool = False) -> Callable[[], None]:
        def complete() -> None:
            from station.sim.boot import boot_device

            self.twin.clock.advance(RESET_DELAY_S)
            if dfu:
                self.twin.update_state(dfu_requested=True)
            state = boot_device(self.twin, cause=cause)
            if safe_mode and state.run_state == "running":
                _enter_safe_mode(self.twin, cause)

        return complete

    def reset(self, payload: bytes) -> Outcome:
        return Outcome(SystemError.NONE, completion=self._boot_after("usb-reset"))

    def factory_reset(self, payload: bytes) -> Outcome:
        return Outcome(SystemError.NONE, completion=self._boot_after("usb-factory-reset"))

    def dfu_mode(self, payload: bytes) -> Outcome:
        return Outcome(SystemError.NONE, completion=self._boot_after("usb-reset", dfu=True))

    def safe_mode(self, payload: bytes) -> Outcome:
        return Outcome(SystemError.NONE, completion=self._boot_after("usb-safe-mode", safe_mode=True))

    def start_listening(self, payload: bytes) -> Outcome:
        from station.sim.listening import start_listening

        start_listening(self.twin, cause="usb")
        return Outcome(SystemError.NONE)

    def stop_listening(self, payload: bytes) -> Outcome:
        from station.sim.listening import leave_listening

        leave_listening(self.twin, cause="usb")
        return Outcome(SystemError.NONE)

    def device_mode(self, payload: bytes) -> Outcome:
        listening = self.twin.state.run_state == "listening"
        mode = pb.DEVICE_MODE_LISTENING if listening else pb.DEVICE_MODE_NORMAL
        return Outcome(SystemError.NONE, _reply(pb.GetDeviceModeReply(mode=mode)))

    def _setup_done_deprecated(self) -> bool:
        return (system_module_version(self.twin) or 0) >= SETUP_DONE_DEPRECATED_SINCE

    def set_setup_done(self, payload: bytes) -> Outcome:
        req = self._decode(RequestType.SET_DEVICE_SETUP_DONE, payload)
        done = bool(req.done)  # type: ignore[attr-defined]
        self.twin.events.record("setup_done_request", done=done, stored=not self._setup_done_deprecated())
        if self._setup_done_deprecated():
            return Outcome(SystemError.NONE if done else SystemError.NOT_SUPPORTED)
        self.twin.update_state(setup_done=done)
        return Outcome(SystemError.NONE)

    def is_setup_done(self, payload: bytes) -> Outcome:
        done = True if self._setup_done_deprecated() else self.twin.state.setup_done
        return Outcome(SystemError.NONE, _reply(pb.IsDeviceSetupDoneReply(done=done)))

    # ------------------------------------------------------------------ modules and updates
    def module_info(self, payload: bytes) -> Outcome:
        from station.sim.module_info import device_modules

        rep = pb.GetModuleInfoReply()
        for m in device_modules(self.twin):
            entry = rep.modules.add(
                type=m.function, index=m.index, version=m.version, store=pb.STORE_MAIN, max_size=m.max_size,
                checked_flags=m.checked, passed_flags=m.passed, hash=m.sha, size=m.size,
            )  # fmt: skip
            for f, i, v in m.deps:
                entry.dependencies.add(type=f, index=i, version=v)
        return Outcome(SystemError.NONE, _reply(rep))

    def start_update(self, payload: bytes) -> Outcome:
        req = self._decode(RequestType.START_FIRMWARE_UPDATE, payload)
        result, cost = self.update.start(int(req.size), int(req.format))  # type: ignore[attr-defined]
        if result != SystemError.NONE:
            return Outcome(result, cost_s=cost)
        return Outcome(SystemError.NONE, _reply(pb.StartFirmwareUpdateReply(chunk_size=CHUNK_SIZE)), cost_s=cost)

    def update_data(self, payload: bytes) -> Outcome:
        try:
            req = self._decode(RequestType.FIRMWARE_UPDATE_DATA, payload)
        except ValueError:
            self.update.cancel()  # the scope guard cancels the transfer on any failure
            raise
        result, cost = self.update.data(bytes(req.data))  # type: ignore[attr-defined]
        return Outcome(result, cost_s=cost)

    def finish_update(self, payload: bytes) -> Outcome:
        req = self._decode(RequestType.FINISH_FIRMWARE_UPDATE, payload)
        validate_only = bool(req.validate_only)  # type: ignore[attr-defined]
        result = self.update.finish(validate_only)
        if result != SystemError.NONE or validate_only:
            return Outcome(result)

        def complete() -> None:
            from station.sim.boot import boot_device

            self.twin.clock.advance(self.update.apply())
            boot_device(self.twin, cause="ota-update")

        return Outcome(SystemError.NONE, completion=complete)

    def cancel_update(self, payload: bytes) -> Outcome:
        self.update.cancel()
        return Outcome(SystemError.NONE)

    def cloud_disconnect(self, payload: bytes) -> Outcome:
        self.twin.events.record("cloud_disconnect", cause="usb")
        return Outcome(SystemError.NONE)

    def refused(self, payload: bytes) -> Outcome:
        return Outcome(SystemError.NOT_SUPPORTED)


def _enter_safe_mode(twin: Twin, cause: str) -> None:
    """``System.enterSafeMode()``: the next boot runs Device OS without the user part — and connects."""
    twin.update_state(run_state="safe_mode", running_app=None)
    twin.events.record(
        "first_connect", cause=cause, run_state="safe_mode", app=None, platform=twin.platform.name,
        reason="safe mode requested over USB",
    )  # fmt: skip


_HANDLERS: dict[int, Callable[[DeviceOsControl, bytes], Outcome]] = {
    RequestType.ECHO: DeviceOsControl.echo,
    RequestType.DEVICE_ID: DeviceOsControl.device_id,
    RequestType.SERIAL_NUMBER: DeviceOsControl.serial_number,
    RequestType.SYSTEM_VERSION: DeviceOsControl.system_version,
    RequestType.NCP_FIRMWARE_VERSION: DeviceOsControl.ncp_version,
    RequestType.RESET: DeviceOsControl.reset,
    RequestType.FACTORY_RESET: DeviceOsControl.factory_reset,
    RequestType.DFU_MODE: DeviceOsControl.dfu_mode,
    RequestType.SAFE_MODE: DeviceOsControl.safe_mode,
    RequestType.START_LISTENING: DeviceOsControl.start_listening,
    RequestType.STOP_LISTENING: DeviceOsControl.stop_listening,
    RequestType.GET_DEVICE_MODE: DeviceOsControl.device_mode,
    RequestType.SET_DEVICE_SETUP_DONE: DeviceOsControl.set_setup_done,
    RequestType.IS_DEVICE_SETUP_DONE: DeviceOsControl.is_setup_done,
    RequestType.GET_MODULE_INFO: DeviceOsControl.module_info,
    RequestType.SET_SECURITY_KEY: DeviceOsControl.refused,
    RequestType.GET_SECURITY_KEY: DeviceOsControl.refused,
    RequestType.START_FIRMWARE_UPDATE: DeviceOsControl.start_update,
    RequestType.FINISH_FIRMWARE_UPDATE: DeviceOsControl.finish_update,
    RequestType.CANCEL_FIRMWARE_UPDATE: DeviceOsControl.cancel_update,
    RequestType.FIRMWARE_UPDATE_DATA: DeviceOsControl.update_data,
    RequestType.CLOUD_DISCONNECT: DeviceOsControl.cloud_disconnect,
}
