"""Library log lines and Python warnings go to the station's log, not the operator's terminal (issue 15 item 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LIBRARY_LINE = "APPROTECT enabled: not automatically unlocking"
SCRIPT = f"""
import logging, sys, click
from station.cli.main import cli

@cli.command("noise", hidden=True)
def noise():
    logging.getLogger("pyocd.target.family.target_nRF52").warning({LIBRARY_LINE!r})
    logging.getLogger("pyocd.coresight.discovery").info("Skipping CoreSight discovery")

cli(sys.argv[1:], prog_name="station")
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_library_warnings_reach_the_log_file_not_stderr(tmp_path: Path) -> None:
    out = run(tmp_path, "noise")
    assert out.returncode == 0, out.stderr
    assert LIBRARY_LINE not in out.stderr and out.stderr == ""
    logs = [p for p in tmp_path.rglob("station.log")]
    assert logs and LIBRARY_LINE in logs[0].read_text()


def test_verbose_shows_them_on_stderr_too(tmp_path: Path) -> None:
    out = run(tmp_path, "--verbose", "noise")
    assert out.returncode == 0
    assert LIBRARY_LINE in out.stderr


def test_a_piped_credential_gives_no_getpass_warning(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "HOME": str(tmp_path),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    out = subprocess.run([sys.executable, "-m", "station", "cloud", "login", "particle"], input="tok-123456789\n",
                         capture_output=True, text=True, env=env, timeout=120)
    assert "GetPassWarning" not in out.stderr and "Warning" not in out.stderr
    assert "tok-123456789" not in out.stdout + out.stderr
