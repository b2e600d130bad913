"""The twin's CMSIS-DAP firmware judged by pyocd's own CMSIS-DAP driver (``DAPAccessCMSISDAP``).

Every test drives the twin through pyocd's real packet layer (:mod:`dap_link`), so what passes here
is what pyocd sends to a USB probe: its DAP_Info questions, DAP_Connect / SWJ / clock set-up, and
DAP_Transfer / DAP_TransferBlock packets built by its own ``_Command``.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
from dap_link import dap_session
from pyocd.core import exceptions
from pyocd.core.helpers import ConnectHelper
from pyocd.flash.file_programmer import FileProgrammer
from pyocd.probe.pydapaccess.dap_access_api import DAPAccessIntf

from station.sim import cmsis_dap
from station.sim.cmsis_dap import DapProcessor
from station.sim.device import Twin

ADDR = 0x28000
FICR_DEVICEID0 = 0x10000060


def image(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def program(s: object, data: bytes, address: int = ADDR) -> None:
    FileProgrammer(s).program(io.BytesIO(data), base_address=address, file_format="bin")


def test_pyocd_identifies_the_probe_from_dap_info(twin: Twin, tmp_path: Path) -> None:
    with dap_session(twin, tmp_path) as (s, _):
        link = s.probe._link
        assert s.probe.unique_id == twin.identity.probe_uid
        assert link.protocol_version == (2, 1, 0)
        assert link.identify(DAPAccessIntf.ID.MAX_PACKET_SIZE) == 512
        assert link.identify(DAPAccessIntf.ID.MAX_PACKET_COUNT) == cmsis_dap.PACKET_COUNT
        assert link.identify(DAPAccessIntf.ID.SER_NUM) == twin.identity.probe_uid
        assert link.firmware_version == cmsis_dap.FIRMWARE_VERSION
        assert link.has_swd_sequence


def test_pyocd_reads_the_chip_and_programs_flash_over_dap_packets(twin: Twin, tmp_path: Path) -> None:
    data = image(40 * 1024)
    with dap_session(twin, tmp_path) as (s, link):
        assert s.target.read32(FICR_DEVICEID0) == twin.identity.deviceid0
        program(s, data)
        assert bytes(s.target.read_memory_block8(ADDR, len(data))) == data
        stats = link.processor.stats
    assert bytes(twin.flash[ADDR : ADDR + len(data)]) == data
    # pyocd packed the image into blocks: far fewer packets than words moved
    assert stats.by_command[cmsis_dap.DAP_TRANSFER_BLOCK] < len(data) // 4 // 50
    assert stats.transfers > len(data) // 4


def test_a_fault_answer_is_a_transfer_fault_and_abort_clears_it(twin: Twin, tmp_path: Path) -> None:
    with dap_session(twin, tmp_path) as (s, link):
        twin.set_faults(swd_fault_rate=1.0)
        with pytest.raises(exceptions.TransferFaultError):
            s.target.read32(FICR_DEVICEID0)
        twin.set_faults(swd_fault_rate=0.0)
        # pyocd clears the sticky flag with DAP_Transfer to ABORT (or DAP_WriteABORT) and goes on
        assert s.target.read32(FICR_DEVICEID0) == twin.identity.deviceid0
        assert link.processor.stats.faults >= 1


def test_a_bus_fault_is_refused_until_the_debugger_clears_it(twin: Twin, tmp_path: Path) -> None:
    with dap_session(twin, tmp_path) as (s, _link):
        with pytest.raises(exceptions.TransferFaultError):
            s.target.read32(0xF0000000)  # nothing on the bus there
        assert s.target.read32(FICR_DEVICEID0) == twin.identity.deviceid0


def test_waits_are_retried_inside_the_probe(twin: Twin, tmp_path: Path) -> None:
    data = image(16 * 1024)
    with dap_session(twin, tmp_path) as (s, link):
        twin.set_faults(swd_wait_rate=0.3)
        program(s, data)
        assert link.processor.stats.wait_acks > 10
    assert bytes(twin.flash[ADDR : ADDR + len(data)]) == data


def test_endless_wait_surfaces_as_a_transfer_timeout(twin: Twin, tmp_path: Path) -> None:
    with dap_session(twin, tmp_path) as (s, link):
        twin.set_faults(swd_wait_rate=1.0)
        with pytest.raises(exceptions.TransferTimeoutError):
            s.target.read32(FICR_DEVICEID0)
        assert link.processor.stats.wait_acks > link.processor.wait_retry


def test_an_unplugged_board_answers_no_ack(twin: Twin, tmp_path: Path) -> None:
    with dap_session(twin, tmp_path) as (s, link):
        twin.unplug()
        with pytest.raises(exceptions.TransferError) as err:
            s.target.read32(FICR_DEVICEID0)
        assert "No ACK" in str(err.value)
        assert link.processor.stats.no_ack >= 1


def test_reset_pin_holds_the_core(twin: Twin, tmp_path: Path) -> None:
    with dap_session(twin, tmp_path) as (s, _link):
        s.probe.assert_reset(True)
        assert s.probe.is_reset_asserted()
        s.probe.assert_reset(False)
        assert not s.probe.is_reset_asserted()


def _transfer(*requests: tuple[int, int | None]) -> bytes:
    body = b"".join(bytes([r]) + (b"" if w is None else struct.pack("<I", w)) for r, w in requests)
    return bytes([cmsis_dap.DAP_TRANSFER, 0, len(requests)]) + body


def test_value_match_reads_and_mismatch_stop_the_packet(twin: Twin) -> None:
    """Not sent by pyocd's driver, so judged against ARM's DAP_Transfer description instead."""
    dap = DapProcessor(twin)
    dpidr_read = cmsis_dap.REQ_RNW  # DP register 0
    dpidr = 0x2BA01477
    # mask 0xFFFF0000, match on the upper half: matches, no data returned, then a plain read returns data
    reply = dap.execute(_transfer((cmsis_dap.REQ_MATCH_MASK, 0xFFFF0000),
                                  (dpidr_read | cmsis_dap.REQ_MATCH_VALUE, dpidr & 0xFFFF0000),
                                  (dpidr_read, None)))  # fmt: skip
    assert reply == bytes([cmsis_dap.DAP_TRANSFER, 3, cmsis_dap.ACK_OK]) + struct.pack("<I", dpidr)
    # a mismatch stops the packet: count 1 (the mask write), response OK | mismatch, the read after it not done
    reply = dap.execute(_transfer((cmsis_dap.REQ_MATCH_MASK, 0xFFFFFFFF),
                                  (dpidr_read | cmsis_dap.REQ_MATCH_VALUE, 0x12345678),
                                  (dpidr_read, None)))  # fmt: skip
    assert reply == bytes([cmsis_dap.DAP_TRANSFER, 1, cmsis_dap.ACK_OK | cmsis_dap.VALUE_MISMATCH])


def test_unknown_and_truncated_commands_get_clear_answers(twin: Twin) -> None:
    dap = DapProcessor(twin)
    assert dap.execute(bytes([0x55])) == bytes([cmsis_dap.DAP_INVALID])
    assert dap.execute(bytes([cmsis_dap.DAP_SWJ_CLOCK, 1])) == bytes([cmsis_dap.DAP_SWJ_CLOCK, cmsis_dap.DAP_ERROR])
    assert dap.execute(bytes([cmsis_dap.DAP_TRANSFER_ABORT])) == b""


def test_packet_costs_match_the_probe_model_of_the_python_probe(twin: Twin, tmp_path: Path) -> None:
    """The same image programmed through pyocd's packets and through the Python probe with its DapPacer
    costs the same modelled device time (the two count the same packets and waits, see cmsis_dap's doc)."""
    twin.update_state(probe_model="cmsis-dap-v2-hs")
    data = image(32 * 1024, seed=2)
    before = twin.clock.device_seconds
    with dap_session(twin, tmp_path) as (s, _link):
        program(s, data, ADDR)
    packets = twin.clock.device_seconds - before

    before = twin.clock.device_seconds
    s2 = ConnectHelper.session_with_chosen_probe(
        unique_id=twin.identity.probe_uid, blocking=False, project_dir=str(tmp_path), no_config=True,
        options={"auto_unlock": False, "resume_on_disconnect": False, "frequency": 8_000_000},
    )  # fmt: skip
    assert s2 is not None
    with s2:
        program(s2, image(32 * 1024, seed=3), ADDR)
    python_probe = twin.clock.device_seconds - before
    assert packets == pytest.approx(python_probe, rel=0.05)
