"""Engines, sessions and migrations for the registry database.

SQLite (one station) gets WAL, foreign keys and a busy timeout on every connection, and write
transactions start with ``BEGIN IMMEDIATE``: pysqlite's default deferred transactions fail with
"database is locked" when a reader later tries to write while another slot committed, whereas an
immediate transaction simply waits its turn (busy_timeout). Read-only units of work use
:func:`read_only` so a long export never blocks the slots that are registering devices.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from station.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x57A7_0001  # advisory lock id: one station migrates a shared database at a time
_BEGIN_OPTION = "station_sqlite_begin"


def default_db_url() -> str:
    """The station's own SQLite file in the user data directory (created on first use)."""
    data = Path(platformdirs.user_data_dir("station"))
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / 'station.db'}"


def resolve_url(url: str | None) -> str:
    """Explicit URL, else ``STATION_DB``, else the default SQLite path."""
    return url or os.environ.get("STATION_DB") or default_db_url()


def make_engine(url: str) -> Engine:
    """Create an engine with the station's connection settings, or raise ConfigError."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL is not valid: {exc}") from exc
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"cannot use database {parsed.render_as_string(hide_password=True)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=FULL")  # a passed device must survive a power cut too
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def read_only(engine: Engine) -> Engine:
    """An engine view whose SQLite transactions are deferred (readers never take the write lock)."""
    return engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with read_only(engine).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head; concurrent stations serialise on a lock and the loser no-ops."""
    head = head_revision()
    try:
        if current_revision(engine) == head:
            return
        cfg = _alembic_config()
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise ConfigError(f"cannot open or migrate the registry database: {exc.__class__.__name__}: {exc}") from exc
