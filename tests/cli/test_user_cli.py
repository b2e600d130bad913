"""``station user``: users and PINs from a shell, with the users dialog's role check and audit rows.

PINs come from standard input here (one a line: the acting admin's, then the new one); the last
test types them at a real terminal (a pty) to show they are prompted and never echoed.
"""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from station.cli.main import cli
from station.errors import LoginRefused
from station.store import open_registry

ADMIN_PIN, NEW_PIN = "730194", "28461"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'station.db'}"


def station(db: str, *args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(cli, ["user", *args, "--db", db, "--station", "bench-7"], input=stdin)


def with_admin(db: str) -> None:
    r = station(db, "add", "alice", "--role", "admin", "--as", "setup", stdin=f"{ADMIN_PIN}\n")
    assert r.exit_code == 0, r.output


def audit(db: str, action: str) -> list[object]:
    reg = open_registry(db)
    try:
        return list(reg.audit_page(action=action).rows)
    finally:
        reg.close()


def test_the_first_user_on_an_open_station_is_an_admin_and_needs_no_pin_to_add(db: str) -> None:
    r = station(db, "add", "olga", "--role", "operator", "--as", "setup", stdin="1111\n")
    assert r.exit_code == 2 and "the first user must be an admin" in r.output
    r = station(db, "add", "alice", "--role", "admin", "--as", "setup", stdin=f"{ADMIN_PIN}\n")
    assert r.exit_code == 0 and "added alice (admin, active)" in r.output, r.output
    [row] = audit(db, "user-added")
    assert (row.operator, row.station, row.details) == ("setup", "bench-7", {"user": "alice", "badge": False})


def test_an_admin_adds_an_operator_who_can_then_log_in(db: str, tmp_path: Path) -> None:
    with_admin(db)
    r = station(db, "add", "olga", "--role", "operator", "--badge", "B-1001", "--as", "alice",
                stdin=f"{ADMIN_PIN}\n{NEW_PIN}\n")
    assert r.exit_code == 0 and "added olga (operator, active, badge B-1001)" in r.output, r.output
    r = station(db, "list", "--as", "alice", stdin=f"{ADMIN_PIN}\n")
    assert [line.split()[:3] for line in r.output.splitlines()[1:]] == [["alice", "admin", "active"],
                                                                        ["olga", "operator", "active"]]
    reg = open_registry(db)
    try:
        assert reg.authenticate("B-1001", NEW_PIN, station="t").name == "olga"
    finally:
        reg.close()
    [row] = [a for a in audit(db, "user-added") if a.details["user"] == "olga"]  # type: ignore[attr-defined]
    assert row.operator == "alice"  # type: ignore[attr-defined]
    # the PINs are in no output and not in clear in the registry's file
    assert ADMIN_PIN not in r.output and NEW_PIN not in r.output
    data = (tmp_path / "station.db").read_bytes()
    assert ADMIN_PIN.encode() not in data and NEW_PIN.encode() not in data


def test_an_operator_is_refused_before_any_new_pin_and_the_refusal_is_audited(db: str) -> None:
    with_admin(db)
    station(db, "add", "olga", "--role", "operator", "--as", "alice", stdin=f"{ADMIN_PIN}\n{NEW_PIN}\n")
    r = station(db, "add", "mallory", "--role", "admin", "--as", "olga", stdin=f"{NEW_PIN}\n")  # no new PIN given
    assert r.exit_code == 2 and "managing users and PINs needs an admin" in r.output, r.output
    [row] = audit(db, "manage-users")
    assert (row.operator, row.role, row.granted) == ("olga", "operator", False)  # type: ignore[attr-defined]
    r = station(db, "list", "--as", "alice", stdin=f"{ADMIN_PIN}\n")
    assert "mallory" not in r.output


def test_a_wrong_admin_pin_changes_nothing(db: str) -> None:
    with_admin(db)
    r = station(db, "add", "olga", "--role", "operator", "--as", "alice", stdin="999999\n1234\n")
    assert r.exit_code == 2 and "wrong name, badge or PIN" in r.output and "999999" not in r.output
    assert [a.details["user"] for a in audit(db, "user-added")] == ["alice"]  # type: ignore[attr-defined]


def test_set_pin_set_role_disable_and_the_last_admin_stays(db: str) -> None:
    with_admin(db)
    station(db, "add", "olga", "--role", "operator", "--as", "alice", stdin=f"{ADMIN_PIN}\n1111\n")
    r = station(db, "set-pin", "olga", "--as", "alice", stdin=f"{ADMIN_PIN}\n{NEW_PIN}\n")
    assert r.exit_code == 0 and "new PIN set for olga" in r.output, r.output
    reg = open_registry(db)
    try:
        with pytest.raises(LoginRefused):
            reg.authenticate("olga", "1111", station="t")
        assert reg.authenticate("olga", NEW_PIN, station="t").name == "olga"
    finally:
        reg.close()
    r = station(db, "set-role", "olga", "engineer", "--as", "alice", stdin=f"{ADMIN_PIN}\n")
    assert r.exit_code == 0 and "olga (engineer, active)" in r.output
    r = station(db, "disable", "alice", "--as", "alice", stdin=f"{ADMIN_PIN}\n")
    assert r.exit_code == 2 and "alice is the last active admin" in r.output
    r = station(db, "disable", "olga", "--as", "alice", stdin=f"{ADMIN_PIN}\n")
    assert r.exit_code == 0 and "disabled: olga (engineer, disabled)" in r.output
    changes = [a.details for a in audit(db, "user-changed")]  # type: ignore[attr-defined]
    assert changes == [{"user": "olga", "active": False}, {"user": "olga", "role": "engineer"},
                       {"user": "olga", "pin": "changed"}]
    r = station(db, "list", "--json", "--as", "alice", stdin=f"{ADMIN_PIN}\n")
    assert '"active": false' in r.output and NEW_PIN not in r.output


def test_a_pin_is_never_an_argument(db: str) -> None:
    r = station(db, "add", "alice", "--role", "admin", "--pin", ADMIN_PIN)
    assert r.exit_code == 2 and "No such option" in r.output


def test_at_a_terminal_pins_are_prompted_without_echo(db: str) -> None:
    """A real pty: the prompt is click's hidden one (getpass), so the typed PIN never appears."""
    with_admin(db)
    pid, fd = pty.fork()
    if pid == 0:  # the child: `station user add` on the terminal
        env = {k: v for k, v in os.environ.items() if k != "STATION_DB"}
        os.execve(sys.executable, [sys.executable, "-m", "station", "user", "add", "olga", "--role", "operator",
                                   "--as", "alice", "--db", db], env)
    seen = b""

    def until(text: bytes, timeout: float = 60) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while text not in seen:
            assert time.monotonic() < end, seen
            if select.select([fd], [], [], 0.5)[0]:
                try:
                    seen += os.read(fd, 1024)
                except OSError:
                    break

    for prompt, typed in ((b"PIN for alice:", ADMIN_PIN), (b"New PIN for olga:", NEW_PIN),
                          (b"Repeat for confirmation:", NEW_PIN)):
        until(prompt)
        os.write(fd, typed.encode() + b"\r")
    until(b"added olga")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert ADMIN_PIN.encode() not in seen and NEW_PIN.encode() not in seen, seen
