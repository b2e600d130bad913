"""Roles: the whole table, stated once, and the check fails closed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from station.roles import PRIVILEGED, Action, Role, may, required_role

OPERATOR_WORK = {Action.RUN_LOT, Action.ANSWER_PROMPT, Action.PRINT_LABEL, Action.EXPORT_MANIFEST}
ENGINEER_WORK = {Action.RECOVER_LOCKED, Action.OVERRIDE_POLICY, Action.EDIT_PROFILE, Action.EDIT_CACHE,
                 Action.RETRY_PARKED}
ADMIN_WORK = {Action.MANAGE_USERS, Action.CHANGE_SETTINGS}


@pytest.mark.parametrize("action", list(Action))
def test_each_role_may_exactly_its_own_and_the_lower_roles_actions(action: Action) -> None:
    assert may(Role.ADMIN, action)
    assert may(Role.ENGINEER, action) == (action in OPERATOR_WORK | ENGINEER_WORK)
    assert may(Role.OPERATOR, action) == (action in OPERATOR_WORK)


def test_every_action_is_in_the_table_and_privileged_means_above_operator() -> None:
    assert set(Action) == OPERATOR_WORK | ENGINEER_WORK | ADMIN_WORK
    assert PRIVILEGED == ENGINEER_WORK | ADMIN_WORK
    assert required_role("recover-locked-chip") is Role.ENGINEER


def test_unknown_roles_and_actions_may_nothing() -> None:
    assert not may("superuser", Action.RUN_LOT)
    assert not may(Role.ADMIN, "format-the-disk")
    assert may("engineer", "retry-parked")  # plain strings from a CLI or settings work


def test_roles_module_is_pure() -> None:
    tree = ast.parse(Path(__file__).parents[1].joinpath("station", "roles.py").read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"__future__", "enum"}
