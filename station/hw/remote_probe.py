"""Debug probes behind pyocd's probe server, named ``remote:HOST:PORT`` (pyocd's ``remote`` probe type).

A probe served by ``pyocd server`` on another PC, or a twin's probe served by ``station sim
serve``, is reached through pyocd's own ``TCPClientProbe``: the station's SWD code is the same
as for a USB probe. pyocd cannot list such probes (its client only answers for an explicit ID),
so a slot mapped to one is present when its server accepts a connection.
"""

from __future__ import annotations

import socket

from station.errors import ConfigError

PREFIX = "remote:"
#: pyocd's TCPClientProbe.DEFAULT_PORT (``pyocd server`` listens there unless told otherwise)
DEFAULT_PORT = 5555


def is_remote(uid: str) -> bool:
    return uid.lower().startswith(PREFIX)


def address(uid: str) -> tuple[str, int]:
    """(host, port) of a ``remote:HOST[:PORT]`` probe ID; ``ConfigError`` naming the ID otherwise."""
    rest = uid[len(PREFIX) :]
    host, sep, port_text = rest.rpartition(":")
    if not sep:
        host, port_text = rest, str(DEFAULT_PORT)
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not host or not 0 < port < 65536:
        raise ConfigError(f"probe {uid!r}: a remote probe is remote:HOST:PORT (pyocd's probe server), e.g. remote:localhost:5555")
    return host, port


def reachable(uid: str, timeout: float = 2.0) -> bool:
    """Whether the probe server for ``uid`` accepts a connection now."""
    host, port = address(uid)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
