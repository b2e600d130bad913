"""Slots mapped to probes behind pyocd's probe server (``remote:HOST:PORT``), which pyocd cannot list."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from station.cli.provision_cmds import discover_slots
from station.errors import ConfigError


@pytest.fixture
def listening_port() -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_a_slot_on_an_answering_probe_server_is_present(listening_port: int) -> None:
    uid = f"remote:localhost:{listening_port}"
    (slot,) = discover_slots(None, False, SimpleNamespace(slots={"7": uid}))
    assert (slot.name, slot.target) == ("7", uid)


def test_a_slot_on_a_server_that_does_not_answer_is_not_connected() -> None:
    uid = f"remote:localhost:{_free_port()}"
    with pytest.raises(ConfigError, match=f"not connected: 1={uid}"):
        discover_slots(f"1={uid}", False, SimpleNamespace(slots={}))


@pytest.mark.parametrize("uid", ["remote:localhost:", "remote:", "remote:host:port", "remote:host:70000"])
def test_a_malformed_remote_probe_id_is_an_input_error(uid: str) -> None:
    with pytest.raises(ConfigError, match="remote:HOST:PORT"):
        discover_slots(None, False, SimpleNamespace(slots={"1": uid}))
