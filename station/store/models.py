"""The registry's tables (SQLAlchemy 2.0 declarative mapping).

The schema itself is owned by the Alembic migrations in ``station/store/migrations``; these
classes must match them (``tests/store/test_migrations.py`` compares the two). Timestamps are
stored as naive UTC so SQLite and PostgreSQL round-trip the same values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    platform: Mapped[str] = mapped_column(String(40))
    particle_product: Mapped[str | None] = mapped_column(String(200))
    peridio_product_prn: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = (UniqueConstraint("product_id", "sha256", name="uq_profiles_product_sha"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Lot(Base):
    __tablename__ = "lots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Device(Base):
    __tablename__ = "devices"
    device_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    platform: Mapped[str | None] = mapped_column(String(40))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), index=True)
    registered_attempt_id: Mapped[int | None] = mapped_column(Integer)
    registered_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: bumped by every registration; an attempt remembers the value it saw at its start so two
    #: stations working on the same ID at once cannot both register it (optimistic concurrency)
    registrations: Mapped[int] = mapped_column(Integer)
    serial_number: Mapped[str | None] = mapped_column(String(100), index=True)
    imei: Mapped[str | None] = mapped_column(String(20))
    iccid: Mapped[str | None] = mapped_column(String(24))
    device_os_version: Mapped[str | None] = mapped_column(String(40))
    product_firmware_version: Mapped[str | None] = mapped_column(String(40))
    first_seen: Mapped[datetime] = mapped_column(DateTime)
    #: a digital twin produced this device: its ID must never reach a real cloud (cloud sync holds it back)
    simulated: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)


_RUNNING = text("outcome = 'running'")


class StationLease(Base):
    """One station process's claim on its name in this registry, kept alive by its heartbeat.

    ``boot_id`` identifies the machine's current boot (two cloned images share a hostname and a
    machine ID, never a boot ID), so a process on the same boot can check a pid directly instead of
    waiting for the lease to expire.
    """

    __tablename__ = "station_leases"
    __table_args__ = (Index("ix_station_leases_station", "station", "expires_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    station: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(200))
    boot_id: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    released_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: who ended it: "released" by its process, or the lease that found it expired
    ended_by: Mapped[str | None] = mapped_column(String(200))


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_lot_device", "lot_id", "device_id"),
        Index("ix_attempts_station_outcome", "station", "outcome"),
        Index("ix_attempts_lot_seq", "lot_id", "id"),
        Index("ix_attempts_started_at", "started_at"),
        # at most one live attempt per device in a registry, whatever the station or transport
        Index("uq_attempts_live_device", "device_id", unique=True, sqlite_where=_RUNNING,
              postgresql_where=_RUNNING),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id"))
    station: Mapped[str] = mapped_column(String(100))
    slot: Mapped[str] = mapped_column(String(40))
    operator: Mapped[str] = mapped_column(String(100))
    transport: Mapped[str] = mapped_column(String(10))
    overrides: Mapped[list[str]] = mapped_column(JSON)
    registrations_seen: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(20))
    failing_step: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    #: what went mid-run (``device-gone``; a station fault: ``probe-gone``, ``registry-unavailable``,
    #: ``internal``); NULL when nothing did or the row predates the column (0004)
    fault: Mapped[str | None] = mapped_column(String(40))
    #: the station process (``station_leases.id``) that owns the attempt while it runs
    lease_id: Mapped[str | None] = mapped_column(String(32))


class Step(Base):
    __tablename__ = "steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Flash(Base):
    __tablename__ = "flashes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    module_sha256: Mapped[str] = mapped_column(String(64))
    function: Mapped[int] = mapped_column(Integer)
    module_index: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    address: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(40))


class Measurement(Base):
    __tablename__ = "measurements"
    #: covering index of the lot report's statistics: one range scan per lot, already grouped
    __table_args__ = (Index("ix_measurements_lot_stats", "lot_id", "step", "name", "unit", "value_num"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    #: the attempt's lot, copied so the report aggregates a lot without joining its attempts
    lot_id: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(20))
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    expected: Mapped[str | None] = mapped_column(Text)
    regex: Mapped[str | None] = mapped_column(Text)
    passed: Mapped[bool] = mapped_column(Boolean)
    duration_s: Mapped[float | None] = mapped_column(Float)
    try_number: Mapped[int] = mapped_column(Integer)


class Label(Base):
    __tablename__ = "labels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))
    path: Mapped[str] = mapped_column(Text)
    fmt: Mapped[str] = mapped_column(String(20))
    printed_at: Mapped[datetime] = mapped_column(DateTime)


class OutboxRow(Base):
    """One cloud registration still to do (or done, or parked). Never holds a credential."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("attempt_id", "target", name="uq_outbox_attempt_target"),
        Index("ix_outbox_ready", "state", "next_try_at"),
        Index("ix_outbox_state_id", "state", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    target: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20))  # pending | imported | failed
    tries: Mapped[int] = mapped_column(Integer)
    next_try_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_action", "action", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    action: Mapped[str] = mapped_column(String(100))
    operator: Mapped[str] = mapped_column(String(100))
    station: Mapped[str] = mapped_column(String(100))
    device_id: Mapped[str | None] = mapped_column(String(24), index=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: for privileged actions: the role the user acted in, whether it was granted, and why
    role: Mapped[str | None] = mapped_column(String(20))
    granted: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """A person who may use the station. The PIN is stored only as a salted scrypt hash."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    pin_hash: Mapped[str] = mapped_column(String(300))
    badge: Mapped[str | None] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(Boolean)
    failed_logins: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
