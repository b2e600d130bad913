"""The station's registry (SQLAlchemy + Alembic): devices, attempts, steps, measurements, outbox."""

from station.store.registry import Registry, default_db_url, open_registry

__all__ = ["Registry", "default_db_url", "open_registry"]
