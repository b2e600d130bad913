"""The cloud side of a front end: credentials, API URLs, the outbox's targets, redaction, a sync's report.

The outbox itself (status, entries, sync, retry) is :class:`~station.app.session.StationSession`'s;
what a front end needs beside it is here: where credentials come from and how to configure a
missing one (never the secret in a message), checking an API URL before any request, whether an
API is on this machine (only such a twin may receive simulated devices), and masking secrets in
stored reasons before they are shown.
"""

from __future__ import annotations

from station.cloud.credentials import ENV_VARS, get_credential, how_to_configure, store_credential
from station.cloud.http import check_base_url, is_local_url
from station.cloud.particle import DEFAULT_PARTICLE_API
from station.cloud.peridio import DEFAULT_PERIDIO_API
from station.cloud.redact import Redactor
from station.cloud.sync import SyncReport
from station.store.outbox import PARTICLE, PERIDIO

__all__ = ["DEFAULT_PARTICLE_API", "DEFAULT_PERIDIO_API", "ENV_VARS", "PARTICLE", "PERIDIO", "Redactor", "SyncReport",
           "check_base_url", "get_credential", "how_to_configure", "is_local_url", "store_credential"]
