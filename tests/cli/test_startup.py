"""``station --help`` and ``--version`` import no heavy library; the command table matches the modules.

How fast they are is measured by ``bench/startup.py`` (with the load); what the tests hold is
the cause of a slow start: which libraries a help or version answer drags in.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest

from station.cli.main import COMMAND_MODULES, COMMANDS

HEAVY = ("sqlalchemy", "requests", "rich", "PIL", "pyocd", "usb", "serial", "alembic", "keyring", "orjson",
         "PySide6", "unicorn", "platformdirs")

PROBE = """
import json, sys
from station.cli.main import cli
try:
    cli(sys.argv[1:], prog_name="station")
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stderr.strip().splitlines()[-1]))
    heavy = sorted(loaded & set(HEAVY))
    assert heavy == [], f"station {' '.join(args)} imported {heavy}"
    if args == ["--help"]:
        assert all(name in out.stdout for name in COMMANDS)


def test_a_command_imports_only_its_own_module() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE + "\nprint(json.dumps(sorted(m for m in sys.modules "
                          "if m.startswith('station.cli.'))), file=sys.stderr)", "config", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cli_modules = set(json.loads(out.stderr.strip().splitlines()[-1]))
    assert not {f"station.cli.{m}" for m in ("provision_cmds", "demo_cmds", "sim_cmds", "cloud_cmds")} & cli_modules


def test_the_command_table_is_what_the_modules_register() -> None:
    registered: dict[str, tuple[str, str]] = {}
    for module in COMMAND_MODULES:
        group = click.Group()
        importlib.import_module(f"station.cli.{module}").register(group)
        for name, cmd in group.commands.items():
            registered[name] = (module, cmd.get_short_help_str(limit=200))
    assert registered == COMMANDS


def test_devices_loads_no_registry_and_no_pipeline(tmp_path: object) -> None:
    """``station devices`` lists hardware: pyocd, pyusb and pyserial, never the registry or the pipeline.

    ``station.app`` used to import the whole session (pipeline, store, SQLAlchemy) for the one
    function ``attached``: 0.7 s of the command's start-up (issue 15 item 3).
    """
    probe = PROBE + ("\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('station.'))), "
                     "file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe, "devices", "--json", "--sim-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    *_, top_line, station_line = out.stderr.strip().splitlines()
    loaded, station_modules = set(json.loads(top_line)), json.loads(station_line)
    assert json.loads(out.stdout) == []  # an empty bench: nothing attached
    assert "pyocd" in loaded  # it did look for probes
    assert not loaded & {"sqlalchemy", "alembic", "keyring", "PIL", "PySide6"}, sorted(loaded & set(HEAVY))
    assert not [m for m in station_modules if m.startswith(("station.store", "station.pipeline", "station.app.session"))]
