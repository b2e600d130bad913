"""Cloud credentials: from the OS keyring or the environment, never from (or into) the registry.

Lookup order: environment variable first (a CI job or a one-off shell overrides the stored
secret), then the keyring entry (service ``station``, user ``particle`` / ``peridio``). A keyring
backend that is missing or locked simply counts as "no stored secret".
"""

from __future__ import annotations

import keyring
from keyring.errors import KeyringError

from station import settings

KEYRING_SERVICE = "station"
#: the settings-table row of each target's credential (its environment variable lives there)
SETTING = {"particle": "particle_token", "peridio": "peridio_key"}
ENV_VARS = {target: settings.env_var(name) for target, name in SETTING.items()}


def get_credential(target: str) -> str | None:
    """The secret for ``target`` ("particle" or "peridio"), or None if none is configured."""
    env = settings.get(SETTING[target])
    if env:
        return str(env)
    try:
        stored = keyring.get_password(KEYRING_SERVICE, target)
    except (KeyringError, RuntimeError):
        return None
    return stored.strip() if stored and stored.strip() else None


def store_credential(target: str, secret: str) -> None:
    """Save a secret in the OS keyring (``station cloud login``)."""
    keyring.set_password(KEYRING_SERVICE, target, secret)


def how_to_configure(target: str) -> str:
    return (f"no {target.capitalize()} credential: set {ENV_VARS[target]} or store it with "
            f"`station cloud login {target}` (keyring service {KEYRING_SERVICE!r}, user {target!r})")
