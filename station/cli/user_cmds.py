"""``station user``: the admin's users and PINs from a shell, as the GUI's users dialog does them.

The same application-layer calls (:mod:`station.app.people`), so the same role check (admin
only), the same rules (the first user is an admin, the last active admin stays) and the same audit
rows (``user-added``, ``user-changed``, a refused ``manage-users``). Whoever runs the command says
who they are with ``--as`` and logs in with their own PIN, as at the window; on an open station
(no users yet) nobody is asked, as the registry's open-station rule says.

PINs are never arguments (argv is visible to every user of the machine in ``ps`` and lands in
shell history): at a terminal they are prompted without echo, and a new PIN is asked twice; from
a pipe they are read one a line from standard input, the acting admin's own PIN first (only when
users exist), then the new PIN. No PIN is printed, logged or stored in clear.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from station.app.people import ROLE_NAMES
from station.cli.common import db_option, echo_json, json_option
from station.errors import ConfigError, InputError

ROLES = list(ROLE_NAMES)


class _Pins:
    """PINs for one command, from the terminal (hidden) or one a line from a pipe."""

    def __init__(self) -> None:
        self.tty = sys.stdin.isatty()

    def read(self, prompt: str, *, confirm: bool = False) -> str:
        if self.tty:
            pin = str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))
        else:
            line = sys.stdin.readline()
            if not line:
                raise ConfigError(f"standard input ended before the {prompt.lower()} "
                                  "(give PINs one a line: your own first, then the new one)")
            pin = line.strip()
        if not pin:
            raise ConfigError(f"empty {prompt.lower()}")
        return pin


def _session(db_url: str | None, station_name: str | None, *, create: bool = False) -> Any:
    from station.app import SessionSettings, StationSession

    return StationSession(SessionSettings(db_url=db_url, station_name=station_name, create_registry=create))


def _acting(session: Any, who: str | None, pins: _Pins) -> tuple[str, str]:
    from station.app import people

    name = who or getpass.getuser()
    return people.acting(session, name, lambda: pins.read(f"PIN for {name}"))


def _admin(call: Callable[[], Any]) -> Any:
    """A refusal by the role check is the caller's input, not a station fault: exit 2, one line."""
    try:
        return call()
    except PermissionError as exc:
        raise InputError(str(exc)) from exc


def _as_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--as", "who", metavar="NAME|BADGE",
                        help="Who you are (an admin; default: the login name). Your PIN is asked for.")(f)


def _station_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--station", "station_name", help="Station name recorded in the audit log.")(f)


def _user_json(u: Any) -> dict[str, Any]:
    return {"name": u.name, "role": u.role.value, "badge": u.badge, "active": u.active,
            "locked_until": u.locked_until, "created_at": u.created_at}


def _describe(u: Any) -> str:
    state = "active" if u.active else "disabled"
    return f"{u.name} ({u.role.value}, {state}{', badge ' + u.badge if u.badge else ''})"


def register(cli: click.Group) -> None:
    @cli.group()
    def user() -> None:
        """Users and PINs (admin): list, add, set-pin, set-role, disable, enable."""

    @user.command("list")
    @_as_option
    @_station_option
    @json_option
    @db_option
    def list_users(who: str | None, station_name: str | None, as_json: bool, db_url: str | None) -> None:
        """Every user: name, role, badge, state (never a PIN)."""
        from station.app import people

        session = _session(db_url, station_name)
        _, role = _acting(session, who, _Pins())
        rows = _admin(lambda: people.users(session, role=role))
        if as_json:
            echo_json([_user_json(u) for u in rows])
            return
        if not rows:
            click.echo("no users: the station is open (everyone acts as admin); add an admin first")
            return
        click.echo(f"{'NAME':<20} {'ROLE':<9} {'STATE':<9} BADGE")
        now = datetime.now(UTC).replace(tzinfo=None)  # the registry stores naive UTC
        for u in rows:
            locked = u.locked_until is not None and u.locked_until > now
            state = "disabled" if not u.active else ("locked" if locked else "active")
            click.echo(f"{u.name:<20} {u.role.value:<9} {state:<9} {u.badge or '-'}")

    @user.command("add")
    @click.argument("name")
    @click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
    @click.option("--badge", default=None, help="Badge ID (what the badge scanner types).")
    @_as_option
    @_station_option
    @db_option
    def add(name: str, role: str, badge: str | None, who: str | None, station_name: str | None,
            db_url: str | None) -> None:
        """Add user NAME with a new PIN (asked for; 4 to 12 digits). The first user must be an admin."""
        from station.app import people

        session = _session(db_url, station_name, create=True)
        pins = _Pins()
        by, by_role = _acting(session, who, pins)
        _admin(lambda: people.require_admin(session, by, by_role, "add a user"))  # refused before a new PIN
        pin = pins.read(f"New PIN for {name}", confirm=True)
        made = _admin(lambda: people.add_user(session, name, role, pin, badge=badge, by=by, by_role=by_role))
        click.echo(f"added {_describe(made)}")

    @user.command("set-pin")
    @click.argument("name")
    @_as_option
    @_station_option
    @db_option
    def set_pin(name: str, who: str | None, station_name: str | None, db_url: str | None) -> None:
        """Give NAME a new PIN (asked for); clears failed tries and a lockout."""
        from station.app import people

        session = _session(db_url, station_name)
        pins = _Pins()
        by, by_role = _acting(session, who, pins)
        _admin(lambda: people.require_admin(session, by, by_role, f"change user {name}"))
        pin = pins.read(f"New PIN for {name}", confirm=True)
        changed = _admin(lambda: people.change_user(session, name, by=by, by_role=by_role, pin=pin))
        click.echo(f"new PIN set for {_describe(changed)}")

    @user.command("set-role")
    @click.argument("name")
    @click.argument("role", type=click.Choice(ROLES))
    @_as_option
    @_station_option
    @db_option
    def set_role(name: str, role: str, who: str | None, station_name: str | None, db_url: str | None) -> None:
        """Make NAME an operator, engineer or admin (the last active admin stays one)."""
        _change(db_url, station_name, who, name, "role changed", role=role)

    @user.command("disable")
    @click.argument("name")
    @_as_option
    @_station_option
    @db_option
    def disable(name: str, who: str | None, station_name: str | None, db_url: str | None) -> None:
        """NAME may no longer log in (kept in the registry and the audit log; the last admin stays)."""
        _change(db_url, station_name, who, name, "disabled", active=False)

    @user.command("enable")
    @click.argument("name")
    @_as_option
    @_station_option
    @db_option
    def enable(name: str, who: str | None, station_name: str | None, db_url: str | None) -> None:
        """NAME may log in again."""
        _change(db_url, station_name, who, name, "enabled", active=True)


def _change(db_url: str | None, station_name: str | None, who: str | None, name: str, done: str,
            **changes: Any) -> None:
    from station.app import people

    session = _session(db_url, station_name)
    by, by_role = _acting(session, who, _Pins())
    changed = _admin(lambda: people.change_user(session, name, by=by, by_role=by_role, **changes))
    click.echo(f"{done}: {_describe(changed)}")
