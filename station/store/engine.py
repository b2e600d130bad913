"""Engines, sessions and migrations for the registry database.

SQLite (one station) gets WAL, foreign keys and a busy timeout on every connection, and write
transactions start with ``BEGIN IMMEDIATE``: pysqlite's default deferred transactions fail with
"database is locked" when a reader later tries to write while another slot committed, whereas an
immediate transaction simply waits its turn (busy_timeout). Read-only units of work use
:func:`read_only` so a long export never blocks the slots that are registering devices.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from station import paths, settings
from station.errors import (
    ConfigError,
    NoRegistry,
    RegistryConflict,
    RegistryReadOnly,
    RegistryUnavailable,
    StationError,
)

__all__ = ["NoRegistry", "RegistryReadOnly"]

MIGRATIONS_DIR = paths.package_file("station.store", "migrations")
#: the newest migration's revision. Opening a registry already there costs one SELECT and no
#: Alembic import (about a third of a CLI command's start-up); tests/store/test_migrations.py
#: holds it equal to the migrations' real head.
SCHEMA_HEAD = "0004"
_PG_MIGRATION_LOCK = 0x57A7_0001  # advisory lock id: one station migrates a shared database at a time
_BEGIN_OPTION = "station_sqlite_begin"


def default_db_url() -> str:
    """The station's own SQLite file in the user data directory (created on first use)."""
    path = paths.registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def resolve_url(url: str | None) -> str:
    """Explicit URL, else ``STATION_DB``, else ``[station] db`` of the station file (a line's
    shared PostgreSQL written once per PC), else the default SQLite path."""
    if url:
        return url
    from station.config import file_value

    return settings.get("db") or file_value("db") or default_db_url()



def translate(exc: DBAPIError, where: str = "registry") -> StationError:
    """A database failure as the station error that names its cause in the operator's words."""
    orig = exc.orig
    text = str(orig).lower()
    state = getattr(orig, "sqlstate", None) or ""
    if "serializ" in text or "deadlock" in text or state in ("40001", "40P01"):
        return RegistryConflict(f"another station changed the same record at the same time ({orig})")
    if "readonly database" in text or "read-only" in text or state == "25006":
        return RegistryReadOnly(
            f"the {where} is read-only ({orig}): nothing was changed; make the file and its folder "
            "writable (or remove the immutable attribute), or point --db at a writable registry")
    if "disk is full" in text or "no space left" in text or state in ("53100", "53000"):
        return RegistryUnavailable(f"the {where} cannot be written: its disk is full ({orig})")
    return RegistryUnavailable(f"the {where} is unavailable: {orig}")



#: the databases the registry runs on (its migrations and tests cover these two)
REGISTRY_BACKENDS = ("sqlite", "postgresql")
URL_FORMS = "a SQLite file is sqlite:///relative.db or sqlite:////absolute/path.db, PostgreSQL postgresql+psycopg://user@host[:port]/db"


def url_origin(url: str) -> str:
    """Where the registry URL ``url`` came from, as the person who must fix it names it.

    Front ends pass the URL on after resolving it (a CLI flag's default is the variable's value),
    so it is matched against the environment and the station file; what matches neither was given
    as ``--db`` (or by the front end, as the window's demo does)."""
    env = settings.from_env("db")
    if env is not None and env[0] == url:
        return f"environment variable {env[1]}"
    from station.config import default_config_path, file_value

    try:
        if file_value("db") == url:
            chosen = settings.get("config")
            return f"{Path(chosen) if chosen else default_config_path()} [station] db"
    except ConfigError:
        pass  # a broken station file is not where this value came from
    return "--db"


def _why(url: str, exc: Exception) -> str:
    port = re.search(r"invalid literal for int\(\) with base 10: ('.*')", str(exc))
    if port is not None:
        return f"its port {port.group(1)} is not a number"
    scheme = re.match(r"[a-z][a-z0-9+.-]*:", url, re.IGNORECASE)
    if "://" not in url and scheme is not None:
        return f"it does not start with a kind of database and // ('{scheme.group(0)}' has no // after it)"
    if "://" not in url:
        return f"it names no kind of database (a SQLite file there is sqlite:///{settings.hide_password(url)})"
    return settings.hide_password(str(exc))


def bad_url(url: str, why: str, where: str | None = None) -> str:
    """The one line a bad registry URL gets: the setting, the value (no password), where it came from, why."""
    forms = "" if "sqlite:///" in why else f"; {URL_FORMS}"
    return f"the registry URL {settings.hide_password(url)} ({where or url_origin(url)}) is not valid: {why}{forms}"


def parse_url(url: str, where: str | None = None) -> URL:
    """``url`` parsed, or a ConfigError naming the setting, where the value came from and what is wrong
    (SQLAlchemy's own is a traceback: ``make_url`` raises ValueError for a port that is not a number)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(bad_url(url, _why(url, exc), where)) from exc
    backend = parsed.get_backend_name()
    if backend not in REGISTRY_BACKENDS:
        raise ConfigError(bad_url(url, f"the registry is SQLite or PostgreSQL, not {backend!r}", where))
    return parsed


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str, *, create: bool = True) -> Engine:
    """Create an engine with the station's connection settings, or raise ConfigError.

    ``create=False``: a SQLite file that does not exist is :class:`NoRegistry` (connecting would
    create an empty file, and a mistyped ``--db`` would then read as "no lots, empty outbox").
    """
    parsed = parse_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        try:
            if path is not None and not create and not (path.is_file() and path.stat().st_size > 0):
                raise NoRegistry(f"there is no station registry at {path} (nothing has been recorded there; "
                                 "check --db / STATION_DB: only `station provision`, `station demo` and "
                                 "`station user add` create one)")
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot open the registry at {path}: {exc.strerror or exc}") from exc
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        hint = ""
        if isinstance(exc, ImportError) and parsed.get_backend_name() == "postgresql":
            hint = " (install the PostgreSQL driver: pip install 'station[postgres]')"
        raise ConfigError(f"cannot use database {settings.hide_password(parsed.render_as_string(hide_password=True))} ({url_origin(url)}): "
                          f"{exc}{hint}") from exc
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


def snapshot_reads(engine: Engine) -> Engine:
    """An engine view whose transactions each read one consistent state of the registry.

    PostgreSQL runs at READ COMMITTED by default, where every statement (and every cursor of an
    export's three) sees the commits made before it started: a lot exported while a station
    registers could list a device without its steps, or count attempts of devices it did not
    count. REPEATABLE READ takes one snapshot at the transaction's first statement, and READ ONLY
    lets the server skip the bookkeeping a writer needs (PostgreSQL manual, "Transaction
    Isolation", 13.2.2; SET TRANSACTION). SQLite's deferred read transaction in WAL mode already
    reads one snapshot from its first read to its end (sqlite.org/isolation.html).
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return read_only(engine)


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database (None: no station schema there)."""
    with read_only(engine).connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine, *, create: bool = True) -> None:
    """Upgrade the schema to head; concurrent stations serialise on a lock and the loser no-ops.

    ``create=False``: a database without the station's schema is :class:`NoRegistry`, not
    initialised (a read command must not turn a mistyped database into an empty registry).
    """
    try:
        current = current_revision(engine)
        if current == SCHEMA_HEAD:
            return
        if current is None and not create:
            raise NoRegistry(f"there is no station registry in {settings.hide_password(engine.url.render_as_string(hide_password=True))} "
                             "(no station tables there; check --db / STATION_DB: only `station provision`, "
                             "`station demo` and `station user add` create one)")
        from alembic import command

        cfg = _alembic_config()
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        if isinstance(exc, DBAPIError) and isinstance(translated := translate(exc), RegistryReadOnly):
            raise translated from exc
        raise ConfigError(f"cannot open or migrate the registry database: {exc.__class__.__name__}: {exc}") from exc
