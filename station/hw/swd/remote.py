"""pyocd's remote probe (``remote:host:port``) with a reply that can end.

pyocd's probe client (pyocd/probe/tcp_client_probe.py ``TCPClientProbe``) reads each reply with
``ClientSocket.readline`` (pyocd/utility/sockets.py, pyocd 0.46), which loops until a newline
arrives: a ``recv`` that times out (the client sets 0.1 s) is retried, and so is a ``recv`` that
returns no bytes — the end of the stream. So a probe server that dies (its process killed, its
host rebooted) leaves the client spinning on an empty ``recv`` for ever, and one that stops
answering (a network cable pulled between the station and the fixture PC) leaves it waiting for
ever: the slot hangs with its device half-written and no error anyone can act on. Measured here:
a probe server killed with SIGKILL mid-session made the next ``read32`` spin until pytest's
180 s timeout; only a race with the kernel's RST sometimes turned it into a BrokenPipeError.

:func:`bound_replies` gives an unopened remote probe a socket whose ``readline`` says so: the end
of the stream is a ConnectionResetError, and :data:`REPLY_LIMIT_S` without a byte of the reply is
a TimeoutError, and every later request on that connection fails at once with the same
error (a session's close makes several). Both are OSErrors, which :func:`station.hw.swd.session.translate` already turns
into ProbeGone ("the debug probe's server stopped answering"). Every other probe is left alone.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from typing import Any

LOG = logging.getLogger(__name__)

#: Longest a probe server may take to start a reply. Each request of pyocd's remote protocol is
#: one probe operation (a DAP transfer block, a memory block of at most a few KB, a line reset):
#: milliseconds on a probe, well under a second on a busy twin; a flash algorithm's run is polled
#: in many short requests. Thirty seconds is far beyond any of them and short enough that an
#: operator sees the slot fail while still at the fixture.
REPLY_LIMIT_S = 30.0


@functools.cache
def _client_socket_class() -> type[Any]:
    from pyocd.utility.sockets import ClientSocket

    class BoundReplySocket(ClientSocket):  # type: ignore[misc]  # pyocd ships no type hints
        """pyocd's ClientSocket whose readline ends: at the end of the stream, or after the limit."""

        _socket: socket.socket | None  # pyocd's: the connection, None until connect() and after close()
        _lost: OSError | None = None

        def write(self, data: bytes) -> None:
            self._still_there()
            try:
                super().write(data)
            except OSError as err:
                self._lose(err)
                raise

        def readline(self) -> bytes:
            self._still_there()
            try:
                return self._readline()
            except OSError as err:
                self._lose(err)
                raise

        def _lose(self, err: OSError) -> None:
            """Remember why, and let the connection go now: pyocd's close sends ``close`` first and
            never reaches its socket's close when that fails, and a server keeps a connection its
            client still holds (a frozen server that wakes would otherwise wait on this one)."""
            self._lost = err
            raw, self._socket = self._socket, None
            if raw is not None:
                raw.close()

        def _still_there(self) -> None:
            """A connection found lost stays lost: the requests a session's close still makes
            (pyocd's disconnect and ``close``) fail at once, not after the limit each."""
            if self._lost is not None:
                raise type(self._lost)(f"{self._lost} (found earlier in this session)")

        def _readline(self) -> bytes:
            started = time.monotonic()
            while True:
                offset = self._buffer.find(b"\n")
                if offset != -1:
                    line = bytes(self._buffer[: offset + 1])
                    del self._buffer[: offset + 1]
                    return line
                try:
                    data = self.read()
                except TimeoutError:  # socket.timeout: the 0.1 s recv timeout the client sets
                    if time.monotonic() - started > REPLY_LIMIT_S:
                        raise TimeoutError(
                            f"no reply from the probe server at {self._address[0]}:{self._address[1]} "
                            f"within {REPLY_LIMIT_S:g} s") from None
                    continue
                if not data:
                    raise ConnectionResetError(
                        f"the probe server at {self._address[0]}:{self._address[1]} closed the connection")
                started = time.monotonic()  # a reply that keeps coming is not a silent server
                self._buffer += data

    return BoundReplySocket


def bound_replies(probe: Any) -> None:
    """Give an unopened pyocd remote probe a socket whose replies end (see the module docstring)."""
    from pyocd.probe.tcp_client_probe import TCPClientProbe
    from pyocd.utility.sockets import ClientSocket

    if not isinstance(probe, TCPClientProbe):
        return
    old: Any = getattr(probe, "_socket", None)
    if type(old) is not ClientSocket or getattr(old, "_socket", None) is not None:
        # Not the pyocd this was written against, or already connected: leave it as it is.
        LOG.debug("remote probe %s: its socket (%r) is left as pyocd made it", probe.unique_id, old)
        return
    host, port = old._address
    probe._socket = _client_socket_class()(host, port, packet_size=old._packet_size, timeout=old._timeout)

