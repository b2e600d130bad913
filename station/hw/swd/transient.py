"""Transient SWD faults: retried where a retry is exact, bounded, and counted.

A debug probe's own firmware retries a WAIT ACK (CMSIS-DAP's ``wait_retry``, which pyocd sets to
150 through DAP_TransferConfigure) but reports a FAULT ACK, and pyocd then only clears the sticky
error flag (``DebugPort._handle_error``: an ABORT write) and raises ``TransferFaultError``. One
FAULT anywhere in a 0.8 MB flash job therefore failed the whole device: at a 0.5 % rate per
transfer request, 0 of 16 devices passed (issue 10 item 10), and a FAULT during pyocd's discovery
left a session without its core registers ("KeyError('register pc')").

A FAULT ACK means the DP refused the access and performed nothing (ADIv5, "Sticky flags and DP
error responses"), so re-issuing an access once the flag is clear is exact, with one exception:
inside a MEM-AP data transfer the AP's TAR auto-increments, so a block cannot be re-sent from the
middle. The retries therefore sit at two levels:

* the DP's register accesses (``read_ap``/``write_ap``/``read_dp``/``write_dp``) for every register
  except a MEM-AP's data registers (DRW, BD0–BD3): IDR, CSW, TAR, the CTRL-AP's registers, SELECT;
* a MEM-AP's memory operations (``read_memory``, ``write_memory``, ``read_memory_block32``,
  ``write_memory_block32``), which write TAR again before their data, so a retried block starts
  at its first word.

Both are bounded per access (:data:`TRIES`) and per session (:data:`SESSION_BUDGET`): a link that
keeps faulting is a bad contact, reported as such, not retried for ever. WAIT that outlasts the
probe's own retries (``TransferTimeoutError``) is not retried: the target is stuck, not noisy.

A write the probe queued and whose FAULT surfaced in a later request is not re-sent by this
layer (pyocd does not say which one failed); that is why every image is verified afterwards and a
flash job seen to fault is verified again before it passes (:meth:`PyocdSwdLink.program`).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger(__name__)

#: attempts per access (the first and three retries): at a 1 % fault rate per request one access
#: then fails for good once in 10⁸, a 0.8 MB job (~10⁴ requests) once in 10⁴ devices
TRIES = 4
#: retries one session may spend; past it the link is reported as unreliable
SESSION_BUDGET = 2000

#: MEM-AP data registers: DRW and the banked data registers BD0–BD3 (ADIv5 MEM-AP map)
_DATA_REGS = frozenset({0x0C, 0x10, 0x14, 0x18, 0x1C})
_MEMORY_OPS = ("read_memory", "write_memory", "read_memory_block32", "write_memory_block32")


class RetryBudget:
    """The transient faults one session has retried, and how many more it may."""

    def __init__(self, limit: int = SESSION_BUDGET) -> None:
        self.limit = limit
        self.retried = 0
        self._lock = threading.Lock()

    def spend(self) -> bool:
        with self._lock:
            if self.retried >= self.limit:
                return False
            self.retried += 1
            return True


def _retryable(exc: Any) -> tuple[type[BaseException], ...]:
    """FAULT ACKs and protocol errors (no ACK, parity): what a noisy or marginal line produces."""
    return (exc.TransferFaultError, exc.TransferProtocolError)


def _retrying(fn: Callable[..., Any], budget: RetryBudget, what: str, clear: Callable[[], None],
              now_at: int | None = None) -> Callable[..., Any]:
    """``fn`` retried on a transient fault. ``now_at``: the position of a read's ``now`` argument
    (pyocd passes it positionally); ``now=False`` asks for a deferred result, whose fault surfaces
    when it is called, and whose retry is then an immediate read."""
    from pyocd.core import exceptions as exc

    transient = _retryable(exc)

    def deferred_asked(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if "now" in kwargs:
            return kwargs["now"] is False
        return now_at is not None and len(args) > now_at and args[now_at] is False

    def immediately(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if "now" in kwargs:
            return args, {**kwargs, "now": True}
        assert now_at is not None
        return (*args[:now_at], True, *args[now_at + 1:]), kwargs

    def attempt(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return fn(*args, **kwargs)
        except transient as err:
            return again(err, args, kwargs)

    def again(err: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The retries after a first transient fault (the common case, no fault, stays one try above)."""
        tries = 1
        while True:
            if tries == TRIES or not budget.spend():
                raise err
            LOG.debug("%s: transient SWD fault (%s), retry %d", what, err, tries)
            clear()
            tries += 1
            try:
                return fn(*args, **kwargs)
            except transient as exc:
                err = exc

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not (kwargs or now_at is not None) or not deferred_asked(args, kwargs):
            return attempt(args, kwargs)
        # A deferred read: pyocd calls the result later, where a FAULT of this read surfaces.
        now_args, now_kwargs = immediately(args, kwargs)
        try:
            deferred = fn(*args, **kwargs)
        except transient:
            if not budget.spend():
                raise
            clear()
            return lambda: attempt(now_args, now_kwargs)

        def result() -> Any:
            try:
                return deferred()
            except transient:
                if not budget.spend():
                    raise
                clear()
                return attempt(now_args, now_kwargs)

        return result

    return call


def _clear_sticky(dp: Any) -> Callable[[], None]:
    """pyocd clears the flag in its own error handler; this makes sure of it before a retry (one
    ABORT write, which the DP accepts even with the flag set)."""
    from pyocd.core import exceptions as exc

    def clear() -> None:
        try:
            dp.clear_sticky_err()
        except exc.Error as err:
            LOG.debug("clearing the sticky error flag: %s", err)

    return clear


def guard_dp(dp: Any, budget: RetryBudget) -> None:
    """Retry the DP's register accesses that are exact to repeat (see the module docstring)."""
    if getattr(dp, "_station_retry", None) is budget:
        return
    clear = _clear_sticky(dp)
    mem_aps = _mem_ap_numbers(dp)

    for name in ("read_ap", "write_ap"):
        plain = getattr(dp, name)
        retried = _retrying(plain, budget, f"DP {name}", clear, now_at=1 if name == "read_ap" else None)

        # Called for every AP register access of the session (~14,000 a device): kept to two tests.
        def pick(addr: int, *args: Any, _plain: Any = plain, _retried: Any = retried, **kwargs: Any) -> Any:
            if (addr & 0xFC) in _DATA_REGS and (addr >> 24) & 0xFF in mem_aps():
                return _plain(addr, *args, **kwargs)
            return _retried(addr, *args, **kwargs)

        setattr(dp, name, pick)
    for name in ("read_dp", "write_dp"):
        setattr(dp, name, _retrying(getattr(dp, name), budget, f"DP {name}", clear,
                                    now_at=1 if name == "read_dp" else None))
    dp._station_retry = budget


def _mem_ap_numbers(dp: Any) -> Callable[[], set[int]]:
    """APSELs of the MEM-APs discovered so far (before discovery: AP 0, the nRF52's AHB-AP).

    Asked on every data register access; worked out again only when pyocd's AP table changed
    (discovery adds to it, a reconnect replaces it).
    """
    from pyocd.coresight.ap import MEM_AP

    seen: list[Any] = [None, -1, {0}]  # the table, its size, its MEM-APs

    def numbers() -> set[int]:
        aps = getattr(dp, "aps", None) or {}
        if aps is not seen[0] or len(aps) != seen[1]:
            found = {addr.apsel for addr, ap in aps.items() if isinstance(ap, MEM_AP)}
            seen[:] = [aps, len(aps), found or {0}]
        result: set[int] = seen[2]
        return result

    return numbers


def guard_mem_aps(dp: Any, budget: RetryBudget) -> None:
    """Retry every MEM-AP's memory operations (each writes TAR again, so a block restarts whole)."""
    from pyocd.coresight.ap import MEM_AP

    clear = _clear_sticky(dp)
    for ap in list((getattr(dp, "aps", None) or {}).values()):
        if not isinstance(ap, MEM_AP) or getattr(ap, "_station_retry", None) is budget:
            continue
        for name in _MEMORY_OPS:
            now_at = 2 if name == "read_memory" else None  # read_memory(addr, transfer_size, now)
            setattr(ap, name, _retrying(getattr(ap, name), budget, f"{ap.short_description} {name}", clear,
                                        now_at=now_at))
        ap._station_retry = budget


class RetryTransientFaults:
    """pyocd session delegate: install the retries as the target is built, so that pyocd's own
    discovery (AP scan, ROM tables, the core's CPUID and registers) is retried too.

    Composes with another delegate's ``will_init_target`` (``inner``).
    """

    def __init__(self, budget: RetryBudget, inner: Any = None) -> None:
        self.budget = budget
        self.inner = inner

    def will_init_target(self, target: Any, init_sequence: Any) -> None:
        if self.inner is not None and hasattr(self.inner, "will_init_target"):
            self.inner.will_init_target(target=target, init_sequence=init_sequence)
        dp = getattr(target, "dp", None)
        if dp is None:
            return
        guard_dp(dp, self.budget)
        if init_sequence.has_task("discovery"):
            init_sequence.wrap_task("discovery", lambda seq: self._after_aps(seq, dp))

    def _after_aps(self, seq: Any, dp: Any) -> Any:
        task = ("station_retry_transient_faults", lambda: guard_mem_aps(dp, self.budget))
        if seq.has_task("create_aps"):
            seq.insert_after("create_aps", task)
        else:  # ADIv6 discovery creates APs while reading the root ROM table
            seq.insert_before("find_components", task) if seq.has_task("find_components") else seq.append(task)
        return seq
