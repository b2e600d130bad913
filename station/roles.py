"""Who may do what at the station: three roles and one pure check every front end uses.

Kept free of Qt, the registry and the CLI (it imports nothing of the station but this file) so
the GUI, the CLI and the application layer ask the same question and get the same answer, and a
test can state the whole table.

* **operator** runs lots, answers prompts, prints labels and exports manifests: the work of a
  shift at the line;
* **engineer** also changes what the line does to a device: recovers a locked chip (an erase),
  overrides a policy, edits profiles and the firmware cache, requeues parked cloud entries;
* **admin** also manages users and changes station settings.

A role holds every right of the roles below it.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)


_ORDER = [Role.OPERATOR, Role.ENGINEER, Role.ADMIN]


class Action(enum.StrEnum):
    # operator
    RUN_LOT = "run-lot"
    ANSWER_PROMPT = "answer-prompt"
    PRINT_LABEL = "print-label"
    EXPORT_MANIFEST = "export-manifest"
    # engineer
    RECOVER_LOCKED = "recover-locked-chip"
    OVERRIDE_POLICY = "override-policy"
    EDIT_PROFILE = "edit-profile"
    EDIT_CACHE = "edit-cache"
    RETRY_PARKED = "retry-parked"
    # admin
    MANAGE_USERS = "manage-users"
    CHANGE_SETTINGS = "change-settings"


#: the least role that may take each action
REQUIRED: dict[Action, Role] = {
    Action.RUN_LOT: Role.OPERATOR,
    Action.ANSWER_PROMPT: Role.OPERATOR,
    Action.PRINT_LABEL: Role.OPERATOR,
    Action.EXPORT_MANIFEST: Role.OPERATOR,
    Action.RECOVER_LOCKED: Role.ENGINEER,
    Action.OVERRIDE_POLICY: Role.ENGINEER,
    Action.EDIT_PROFILE: Role.ENGINEER,
    Action.EDIT_CACHE: Role.ENGINEER,
    Action.RETRY_PARKED: Role.ENGINEER,
    Action.MANAGE_USERS: Role.ADMIN,
    Action.CHANGE_SETTINGS: Role.ADMIN,
}

#: actions whose every decision (granted or refused) belongs in the audit log
PRIVILEGED = frozenset(a for a, r in REQUIRED.items() if r is not Role.OPERATOR)


def may(role: Role | str, action: Action | str) -> bool:
    """Whether ``role`` may take ``action``. Unknown roles or actions may nothing (fail closed)."""
    try:
        r, a = Role(role), Action(action)
    except ValueError:
        return False
    return r.rank >= REQUIRED[a].rank


def required_role(action: Action | str) -> Role:
    return REQUIRED[Action(action)]
