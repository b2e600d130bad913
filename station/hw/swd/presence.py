"""Is a unit seated behind this probe? One DP IDR read, without a pyocd session being opened.

On a line the fixture's probe never leaves: the operator takes a unit out and seats the next. The
cheapest real question a station can ask through the probe is the one pyocd's ``DPConnector``
asks first (pyocd/coresight/dap.py ``DPConnector.connect``): connect the probe for SWD, send the
SWJ sequence (pyocd/probe/swj.py ``SWJSequenceSender.switch_to_swd``: SWD line reset, the 16-bit
JTAG-to-SWD code 0xE79E, a line reset again, idle cycles; ARM ADIv5, IHI 0031, B5.2.1 and
B4.3.3) and read DP register 0 (DPIDR), which the DP must answer right after a line reset. A unit
answers with its DPIDR; an empty fixture gives no ACK (pyocd's plain ``TransferError``).

No target discovery, no flash algorithm, no ``Session.open``: pyocd's ``Session(None)`` only
carries the options a probe's ``open`` reads (its docstring: "a container for session options").
A locked nRF52 still answers DPIDR, so a locked unit counts as seated (the run then says it is
locked). The probe is opened and closed within the call: it is never held between polls.
"""

from __future__ import annotations

import logging
import os

from station.hw.swd.remote import bound_replies
from station.hw.swd.session import SESSION_OPEN_LOCK, pyocd_modules, socket_error

LOG = logging.getLogger(__name__)

#: JTAG-to-SWD select sequence, LSB first (ADIv5 B5.2.1; pyocd swj.py ``jtag_to_swd``)
JTAG_TO_SWD = 0xE79E
#: a line reset: at least 50 SWCLK cycles with SWDIO high (pyocd swj.py ``line_reset`` sends 51)
LINE_RESET_BITS = 51
DP_IDR = 0x0


def target_answers(probe_uid: str) -> bool | None:
    """True: a target answered DPIDR; False: the probe answered and nothing behind it did (no ACK);
    None: the probe could not be asked (gone, its server down, or opened by someone else)."""
    from pyocd.core.session import Session
    from pyocd.probe.aggregator import DebugProbeAggregator
    from pyocd.probe.debug_probe import DebugProbe

    _, exc = pyocd_modules()
    try:
        probe = DebugProbeAggregator.get_probe_with_id(probe_uid)
        if probe is None:
            return None
        with SESSION_OPEN_LOCK:  # Session() touches process-wide state (see station.hw.swd.session)
            probe.session = Session(None, project_dir=os.getcwd(), no_config=True)
        bound_replies(probe)
        probe.open()
    except (exc.Error, OSError) as err:
        LOG.debug("probe %s: not asked for a target (%s)", probe_uid, err)
        return None
    try:
        probe.connect(DebugProbe.Protocol.SWD)
        probe.swj_sequence(LINE_RESET_BITS, (1 << LINE_RESET_BITS) - 1)
        probe.swj_sequence(16, JTAG_TO_SWD)
        probe.swj_sequence(LINE_RESET_BITS, (1 << LINE_RESET_BITS) - 1)
        probe.swj_sequence(2, 0)  # idle cycles before the first packet header
        idr = int(probe.read_dp(DP_IDR, now=True))
        return idr != 0
    except exc.Error as err:
        if type(err) is exc.TransferError:
            return False  # no ACK (dap_access_cmsis_dap.py _check_response): nothing seated
        LOG.debug("probe %s: target check failed (%s)", probe_uid, err)
        return None
    except (OSError, AssertionError) as err:
        if socket_error(err) is None:
            raise
        return None
    finally:
        for step in (probe.disconnect, probe.close):
            try:
                step()
            except Exception as err:  # the probe may be gone: its answer above stands
                LOG.debug("probe %s: releasing after the target check: %s", probe_uid, err)
