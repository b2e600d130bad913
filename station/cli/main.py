"""The ``station`` command.

Exit codes (a contract scripts rely on): 0 ok, 1 one or more devices failed, 2 usage or
configuration error (bad profile, corrupt firmware, missing cache entry: nothing was flashed).
Each command group lives in its own module and registers itself here.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from types import FrameType

import click

from station import __version__
from station.errors import InputError, StationError

#: modules under station.cli that each define ``register(cli: click.Group) -> None``
COMMAND_MODULES = (
    "firmware_cmds",
    "cache_cmds",
    "profile_cmds",
    "config_cmds",
    "sim_cmds",
    "device_cmds",
    "provision_cmds",
    "lot_cmds",
    "cloud_cmds",
    "label_cmds",
    "demo_cmds",
    "gui_cmds",
)


class StationGroup(click.Group):
    """Turns station errors into one clear line and the documented exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except StationError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=StationGroup)
@click.version_option(__version__, prog_name="station")
def cli() -> None:
    """Factory provisioning station: identify, flash, test, register, label and export devices."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"station.cli.{name}").register(cli)


_register_all()


def _stop_like_ctrl_c(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM delivered as Ctrl-C: every command already knows how to stop safely on KeyboardInterrupt."""
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def main() -> None:
    """The ``station`` command. SIGTERM (a service manager stopping the station) does what Ctrl-C does:
    runs cancel at step boundaries, attempts are closed, devices are left safe, leases released."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    cli(prog_name="station")


if __name__ == "__main__":
    main()
