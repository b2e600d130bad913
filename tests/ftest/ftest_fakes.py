"""Fake links at the lowest seam: the station.hw.interfaces protocols backed by dicts and bytearrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from station.domain import NRF_FLASH_SIZE, ModuleStatus
from station.firmware.demo import build_demo_modules
from station.firmware.module import module_flash_image, parse_module
from station.hw.interfaces import ListeningInfo, TestReply

DEVICE_ID = "e00fce68a1b2c3d4e5f60718"
IMEI = "356938035643809"  # Luhn-valid
ICCID = "8934076500000000000"  # 19 digits, Luhn-valid

Answer = TestReply | Exception | Callable[[dict[str, Any]], TestReply]


class FakeSerial:
    """Replies per command; an Exception is raised, a list is consumed one reply per call."""

    port = "/dev/fake"

    def __init__(self, replies: dict[str, Answer | list[Answer]] | None = None) -> None:
        self.replies: dict[str, Any] = {
            "hello": TestReply(True, "factory-test", raw={"device_id": DEVICE_ID}),
            "battery": TestReply(True, 3.91, "V"),
            "vin": TestReply(True, 5.02, "V"),
            "modem": TestReply(True, "OK"),
            "imei": TestReply(True, IMEI),
            "iccid": TestReply(True, ICCID),
            "led": TestReply(True, "green"),
            "version": TestReply(True, "6.2.0", raw={"system": "6.2.0", "app": "6"}),
            **(replies or {}),
        }
        self.calls: list[tuple[str, float, dict[str, Any]]] = []

    def __enter__(self) -> FakeSerial:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def identify(self) -> ListeningInfo:
        return ListeningInfo(DEVICE_ID)

    def system_version(self) -> str:
        return "6.2.0"

    def modules(self) -> list[dict[str, Any]]:
        return []

    def call(self, cmd: str, timeout: float = 5.0, **args: Any) -> TestReply:
        self.calls.append((cmd, timeout, args))
        answer = self.replies.get(cmd, TestReply(False, error="unknown_command"))
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(args)
        return answer


def demo_flash(platform: str = "boron", user: str = "user-factory-test") -> bytearray:
    """1 MB of internal flash holding the demo Device OS and one user part, as flashed by the station."""
    flash = bytearray(b"\xff" * NRF_FLASH_SIZE)
    mods = build_demo_modules(platform)
    for role in ("bootloader", "softdevice", "system-part1", user):
        img = module_flash_image(mods[role], parse_module(mods[role]))
        flash[img.address : img.end] = img.data
    return flash


class FakeSwd:
    probe_uid = "FAKE0001"

    def __init__(
        self, device_id: str = DEVICE_ID, words: dict[int, int] | None = None, flash: bytearray | None = None
    ):
        self.device_id = device_id
        self.words = words or {}
        self.flash = flash if flash is not None else demo_flash()

    def __enter__(self) -> FakeSwd:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def is_locked(self) -> bool:
        return False

    def recover(self) -> None:
        raise AssertionError("tests must never recover")

    def read_device_id(self) -> str:
        return self.device_id

    def crc32(self, address: int, size: int) -> int:
        import zlib

        from station.firmware.crc import region_crc

        def blocks(bs: object) -> list[int]:
            out = []
            for a, n in bs:  # type: ignore[attr-defined]
                assert n & (n - 1) == 0 and a % n == 0  # what pyocd's analyzer accepts
                out.append(zlib.crc32(self.flash[a : a + n]))
            return out

        return region_crc(address, size, read=self.read_memory, block_crcs=blocks)

    def read32(self, address: int) -> int:
        return self.words.get(address, 0xFFFFFFFF)

    def read_memory(self, address: int, size: int) -> bytes:
        return bytes(self.flash[address : address + size])

    def program(self, *a: Any, **k: Any) -> Any:
        raise AssertionError("tests never program")

    def halt(self) -> None:
        pass

    def reset_and_run(self) -> None:
        pass

    def reset_and_halt(self) -> None:
        pass


class FakeUsb:
    def __init__(
        self, device_id: str = DEVICE_ID, system: str = "6.2.0", modules: list[ModuleStatus] | None = None
    ):
        self.device_id = device_id
        self.system = system
        self.modules = modules if modules is not None else [
            ModuleStatus(2, 0, 3100), ModuleStatus(8, 0, 202), ModuleStatus(4, 1, 6200), ModuleStatus(5, 1, 6),
        ]  # fmt: skip

    def __enter__(self) -> FakeUsb:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def get_device_id(self) -> str:
        return self.device_id

    def get_system_version(self) -> str:
        return self.system

    def get_module_info(self) -> list[ModuleStatus]:
        return self.modules

    def reset(self) -> None:
        pass

    def enter_dfu(self) -> None:
        pass

    def set_setup_done(self, done: bool = True) -> None:
        pass

    def is_setup_done(self) -> bool:
        return True
