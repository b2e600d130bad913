"""Users with PINs and badges in the registry, and the audit of privileged decisions."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, text

from station.errors import ConfigError
from station.roles import Role
from station.store import Registry
from station.store.models import AuditEntry, User
from station.store.users import MAX_FAILED_LOGINS, LoginRefused, hash_pin, verify_pin

PIN = "482913"


def test_pins_are_salted_scrypt_hashes_compared_in_constant_time() -> None:
    a, b = hash_pin(PIN), hash_pin(PIN)
    assert a.startswith("scrypt$16384$8$1$") and a != b  # a salt of its own each time
    assert PIN not in a
    assert verify_pin(PIN, a) and verify_pin(PIN, b)
    assert not verify_pin("482914", a) and not verify_pin(PIN, "plain$" + PIN)
    with pytest.raises(ConfigError, match="4 to 12 digits"):
        hash_pin("12")


def test_open_station_until_the_first_user(registry: Registry) -> None:
    assert not registry.has_users() and registry.user_role("anyone") is None
    registry.add_user("ana", Role.ENGINEER, PIN, badge="B-0042", by="setup", station="st1")
    assert registry.has_users()
    assert registry.user_role("ana") is Role.ENGINEER and registry.user_role("B-0042") is Role.ENGINEER
    assert registry.user_role("bob") is None
    [u] = registry.users()
    assert (u.name, u.role, u.badge, u.active) == ("ana", Role.ENGINEER, "B-0042", True)


def test_login_by_name_or_badge_and_every_attempt_is_audited(registry: Registry,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    registry.add_user("ana", "operator", PIN, badge="B-7", by="admin", station="st1")
    assert registry.authenticate("ana", PIN, station="st1").role is Role.OPERATOR
    assert registry.authenticate("B-7", PIN, station="st1").name == "ana"
    for who, pin in (("ana", "000000"), ("nobody", PIN), (PIN, PIN)):  # wrong PIN, unknown, PIN typed as name
        with pytest.raises(LoginRefused, match="wrong name, badge or PIN"):
            registry.authenticate(who, pin, station="st1")
    with registry.reading() as s:
        rows = [(a.action, a.operator, a.granted, a.reason) for a in s.scalars(select(AuditEntry)
                                                                                 .where(AuditEntry.action == "login"))]
    assert rows == [("login", "ana", True, None), ("login", "ana", True, None), ("login", "ana", False, "wrong PIN"),
                    ("login", "(unknown)", False, "unknown or inactive user"),
                    ("login", "(unknown)", False, "unknown or inactive user")]
    # The PIN is nowhere: not in any table's text, not in the log.
    with registry.engine.connect() as conn:
        for table in ("users", "audit"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert PIN not in " ".join(map(str, row))
    assert PIN not in caplog.text


def test_repeated_failures_lock_the_account(registry: Registry) -> None:
    registry.add_user("ana", "operator", PIN, by="admin", station="st1")
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(LoginRefused):
            registry.authenticate("ana", "999999", station="st1")
    with pytest.raises(LoginRefused, match="locked until"):
        registry.authenticate("ana", PIN, station="st1")  # even the right PIN, for a while
    registry.update_user("ana", pin="112233", by="admin", station="st1")  # an admin resets it
    assert registry.authenticate("ana", "112233", station="st1").name == "ana"


def test_user_changes_and_duplicates(registry: Registry) -> None:
    registry.add_user("ana", "operator", PIN, badge="B-1", by="admin", station="st1")
    with pytest.raises(ConfigError, match="already exists"):
        registry.add_user("ana", "admin", PIN, by="admin", station="st1")
    with pytest.raises(ConfigError, match="already exists"):
        registry.add_user("bob", "admin", PIN, badge="B-1", by="admin", station="st1")
    registry.update_user("ana", role="engineer", active=False, by="admin", station="st1")
    assert registry.user_role("ana") is None  # inactive
    with pytest.raises(LoginRefused):
        registry.authenticate("ana", PIN, station="st1")
    with registry.reading() as s:
        u = s.scalars(select(User)).one()
        assert u.role == "engineer" and u.pin_hash.startswith("scrypt$")


def test_privileged_decisions_record_who_role_outcome_and_why(registry: Registry) -> None:
    registry.audit_decision("recover-locked-chip", operator="ana", station="st1", role="engineer", granted=True,
                            reason="board from rework, locked by a field test", device_id="E00FCE68AABBCCDDEEFF0011")
    registry.audit_decision("override-policy", operator="bob", station="st1", role="operator", granted=False,
                            reason="needs engineer")
    page = registry.audit_page(privileged_only=True)
    assert [(a.action, a.operator, a.role, a.granted) for a in page.rows] == [
        ("override-policy", "bob", "operator", False), ("recover-locked-chip", "ana", "engineer", True)]
    assert page.rows[1].device_id == "e00fce68aabbccddeeff0011" and "rework" in (page.rows[1].reason or "")
