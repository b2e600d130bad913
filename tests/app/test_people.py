"""Managing users through the application layer: only an admin, the first user an admin, the last admin kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.app import SessionSettings, StationSession, people
from station.errors import ConfigError


@pytest.fixture
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = StationSession(SessionSettings(db_url=f"sqlite:///{tmp_path / 'reg.db'}", station_name="st-people",
                                       create_registry=True))
    yield s
    s.registry.close()


def test_only_an_admin_manages_users_and_each_refusal_is_audited(session: StationSession) -> None:
    with pytest.raises(ConfigError, match="first user must be an admin"):
        people.add_user(session, "olga", "operator", "1234", by="tech", by_role="admin")
    people.add_user(session, "ada", "admin", "9999", by="tech", by_role="admin")
    people.add_user(session, "olga", "operator", "1234", badge="B-1", by="ada", by_role="admin")
    for role in ("operator", "engineer", None):
        with pytest.raises(PermissionError, match="needs an admin"):
            people.change_user(session, "olga", pin="0000", by="olga", by_role=role)
        with pytest.raises(PermissionError):
            people.users(session, role=role)
    refused = session.registry.audit_page(action="manage-users").rows
    assert len(refused) == 3 and not any(r.granted for r in refused)
    assert session.registry.authenticate("B-1", "1234", station="st-people").name == "olga"


def test_the_last_active_admin_is_never_demoted_or_disabled(session: StationSession) -> None:
    people.add_user(session, "ada", "admin", "9999", by="tech", by_role="admin")
    for change in ({"role": "engineer"}, {"active": False}):
        with pytest.raises(ConfigError, match="last active admin"):
            people.change_user(session, "ada", by="ada", by_role="admin", **change)  # type: ignore[arg-type]
    people.add_user(session, "bob", "admin", "8888", by="ada", by_role="admin")
    people.change_user(session, "ada", active=False, by="bob", by_role="admin")
    with pytest.raises(ConfigError, match="bob is the last active admin"):
        people.change_user(session, "bob", role="operator", by="bob", by_role="admin")
    assert [(u.name, u.active) for u in people.users(session, role="admin")] == [("ada", False), ("bob", True)]
