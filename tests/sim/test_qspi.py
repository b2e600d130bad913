"""The QSPI flash as Device OS uses it: the DCT is a file, the key sits at 3106, the serial lives in OTP.

Driven through the twin's DfuSe function exactly as dfu-util drives a device (SET_ADDRESS, ERASE,
DNLOAD blocks, GETSTATUS), so the writes are the ones a tool on the line can make.
"""

from __future__ import annotations

import struct

import pytest

from station.sim import qspi
from station.sim.bench import Bench
from station.sim.device import Twin
from station.sim.dfu import DfuSeFunction

DNLOAD, GETSTATUS, UPLOAD = 1, 3, 2


def _cmd(dfu: DfuSeFunction, payload: bytes) -> None:
    dfu.control_out(DNLOAD, 0, payload)
    dfu.control_in(GETSTATUS, 0, 6)
    dfu.control_in(GETSTATUS, 0, 6)


def _write(dfu: DfuSeFunction, alt: int, address: int, data: bytes, *, erase: bool = False) -> None:
    dfu.set_alt(alt)
    if erase:
        for sector in range(address & ~0xFFF, address + len(data), 0x1000):
            _cmd(dfu, struct.pack("<BI", 0x41, sector))
    _cmd(dfu, struct.pack("<BI", 0x21, address))
    for i in range(0, len(data), 4096):
        dfu.control_out(DNLOAD, 2 + i // 4096, data[i : i + 4096])
        dfu.control_in(GETSTATUS, 0, 6)
        dfu.control_in(GETSTATUS, 0, 6)


def _read(dfu: DfuSeFunction, alt: int, address: int, size: int) -> bytes:
    dfu.set_alt(alt)
    _cmd(dfu, struct.pack("<BI", 0x21, address))
    dfu.control_out(4, 0, b"")  # CLRSTATUS: back to idle before UPLOAD
    data = dfu.control_in(UPLOAD, 2, size)
    dfu.control_out(6, 0, b"")  # ABORT: back to idle, as dfu-util does after an upload
    return data


@pytest.fixture
def t(bench: Bench) -> Twin:
    return bench.create(1, seed=91)[0]


def test_key_sits_where_device_os_and_particle_cli_read_it(t: Twin) -> None:
    dct = t.dct_read_all()
    assert len(dct) == qspi.DCT_FILE_SIZE == 8391
    assert dct[3106:3108] == b"\x30\x77" and t.device_key() == dct[3106:3298]
    assert dct[3618:3630] == bytes.fromhex(t.device_id)  # device_id slot of application_dct_t
    dfu = DfuSeFunction(t)
    assert _read(dfu, 1, 3106, 192) == t.device_key()


def test_a_legitimate_dct_write_never_logs_key_lost(t: Twin) -> None:
    key = t.device_key()
    dfu = DfuSeFunction(t)
    _write(dfu, 1, 100, b"\x01\x02\x03\x04")  # 'e' sectors: dfu-util writes without erasing
    _write(dfu, 1, 3106, key)  # the same key written back: no change
    _write(dfu, 1, 8134, b"\x01")  # setup_done
    assert t.dct_read(100, 4) == b"\x01\x02\x03\x04" and t.dct_read(8134, 1) == b"\x01"
    assert t.device_key() == key
    assert "key_lost" not in t.events.kinds()


def test_a_destructive_dct_write_always_logs_key_lost(t: Twin) -> None:
    dfu = DfuSeFunction(t)
    _write(dfu, 1, 3100, b"\x00" * 6)  # ends right before the key slot (3106)
    _write(dfu, 1, 3298, b"\x00" * 6)  # starts right after it
    assert "key_lost" not in t.events.kinds()
    _write(dfu, 1, 3297, b"\x00")  # the key's last byte
    assert t.events.kinds().count("key_lost") == 1


@pytest.mark.parametrize(
    ("offset", "data"),
    [(3106, b"\x00"), (3200, b"\x00" * 4), (3297, b"\x00"), (3000, b"\x00" * 400), (0, b"\x00" * 0x4000)],
)
def test_every_dct_write_that_changes_a_key_byte_logs_key_lost(t: Twin, offset: int, data: bytes) -> None:
    key = t.device_key()
    dfu = DfuSeFunction(t)
    _write(dfu, 1, offset, data)
    assert t.device_key() != key
    assert t.events.kinds().count("key_lost") == 1


def test_raw_external_flash_writes_hit_the_filesystem_only_where_it_lives(t: Twin) -> None:
    dfu = DfuSeFunction(t)
    key = t.device_key()
    blocks = _read(dfu, 2, 0x80000000, 0x1000)
    _write(dfu, 2, 0x80000000, blocks, erase=True)  # read back and rewritten unchanged
    _write(dfu, 2, 0x80300000, b"\x00" * 4096, erase=True)  # OTA region, outside the filesystem
    assert t.device_key() == key and "key_lost" not in t.events.kinds()
    _write(dfu, 2, 0x80001000, b"\x00" * 16)  # into a filesystem block: corrupt
    assert not t.mount_filesystem()  # the next boot formats it
    assert t.events.kinds().count("key_lost") == 1 and not t.key_present()
    assert t.dct_read_all() == b"\xff" * qspi.DCT_FILE_SIZE  # reformatted, empty DCT


def test_the_otp_serial_survives_every_dfu_write(t: Twin) -> None:
    serial, secret = t.serial_number(), t.device_secret()
    dfu = DfuSeFunction(t)
    size = len(t.ext_flash)
    _write(dfu, 2, 0x80000000 + size - 0x2000, b"\x00" * 0x2000, erase=True)  # last sectors: where it used to be
    _write(dfu, 2, 0x80000000, b"\x00" * 0x8000, erase=True)
    _write(dfu, 1, 0, b"\x00" * 0x4000)
    assert t.serial_number() == serial == t.identity.serial_number
    assert t.otp_read(0x10, 15).decode() == secret


def test_otp_size_follows_the_qspi_chip(bench: Bench) -> None:
    boron, tracker = bench.create_one("b", "boron", seed=1), bench.create_one("t", "tracker", seed=2)
    assert len(boron.otp) == 512 and len(tracker.otp) == 1024
    with pytest.raises(ValueError):
        boron.otp_read(500, 15)
