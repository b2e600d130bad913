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
    "doctor_cmds",
    "sim_cmds",
    "device_cmds",
    "provision_cmds",
    "lot_cmds",
    "cloud_cmds",
    "label_cmds",
    "demo_cmds",
    "gui_cmds",
    "user_cmds",
)

#: every top-level command: the module that registers it and its one-line help. ``station --help``
#: is answered from this table and ``station CMD`` imports only CMD's module, so neither pays for
#: SQLAlchemy, requests, rich, Pillow or pyocd (2 s of a 2.2 s help before). A test holds the
#: table to what the modules really register.
COMMANDS: dict[str, tuple[str, str]] = {
    "firmware": ("firmware_cmds", "Inspect Particle module binaries and generate the demo firmware set."),
    "cache": ("cache_cmds", "The firmware cache: content-addressed by SHA-256, verified on every use."),
    "profile": ("profile_cmds", "Product profiles: what the line flashes, tests, registers and labels."),
    "config": ("config_cmds", "The station's settings (one table: flags, environment, station.toml, defaults)."),
    "doctor": ("doctor_cmds", "Check the udev rules, the plugdev group, access to every attached probe and device, and the registry setting."),
    "sim": ("sim_cmds", "Digital twins: simulated Particle Gen3 boards on a bench folder."),
    "device": ("device_cmds", "One device in the registry (by ID, or by scanning its label)."),
    "devices": ("device_cmds", "List attached probes, USB devices (normal and DFU mode) and serial ports."),
    "identify": ("device_cmds", "Read the device ID of everything attached (SWD: FICR; USB: serial number)."),
    "provision": ("provision_cmds", "Provision every device on the station's slots with PROFILE."),
    "lot": ("lot_cmds", "Lots: what was provisioned, their manifests and yield reports."),
    "cloud": ("cloud_cmds", "The cloud outbox: devices registered offline, waiting to be imported."),
    "label": ("label_cmds", "Reprint the label of DEVICE_ID (from the registry) as PNG, PDF or ZPL."),
    "demo": ("demo_cmds", "Create --devices N simulated devices and provision them end to end, then export the lot."),
    "gui": ("gui_cmds", "Open the operator window (needs the gui extra: pip install 'station[gui]')."),
    "user": ("user_cmds", "Users and PINs (admin): list, add, set-pin, set-role, disable, enable."),
}


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


class LazyStationGroup(StationGroup):
    """The top-level group: a command's module is imported when that command is looked up."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._loaded: set[str] = set()

    def load(self, module: str) -> None:
        if module not in self._loaded:
            self._loaded.add(module)
            importlib.import_module(f"station.cli.{module}").register(self)

    def load_all(self) -> None:
        for module in COMMAND_MODULES:
            self.load(module)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.load(COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`COMMANDS`, importing nothing."""
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyStationGroup)
@click.version_option(__version__, prog_name="station")
@click.option("--verbose", "-v", is_flag=True,
              help="Also print log records (the station's and its libraries') on stderr; they always go to "
                   "station.log in the user log folder.")
def cli(verbose: bool) -> None:
    """Factory provisioning station: identify, flash, test, register, label and export devices."""
    from station.cli.logs import configure_logging

    configure_logging(verbose=verbose)


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
