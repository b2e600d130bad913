"""Nothing outside the twin may make Windows impossible: with the POSIX-only modules (fcntl,
termios, tty, pty, …) refused to station's own code, every non-twin module still imports.

Third-party packages keep them (pyserial picks its POSIX backend here, its Win32 one on Windows):
the question is only whether *station's* code asks for them, directly or by importing the twin at
module level. Only the twin's pty serial face (``station.sim.serial_pty``) is POSIX-only; its file
lock (``station.sim.filelock``) picks fcntl or msvcrt by OS and is the one module allowed fcntl.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

POSIX_ONLY = ("fcntl", "termios", "tty", "pty", "grp", "pwd", "resource")

CHILD = textwrap.dedent("""
    import builtins, importlib, json, pkgutil, sys

    BLOCKED = set(sys.argv[1].split(","))
    CHOOSES_PER_OS = {"station.sim.filelock"}  # imports fcntl on POSIX, msvcrt on Windows
    real_import = builtins.__import__

    def refusing_import(name, globals=None, locals=None, fromlist=(), level=0):
        # `import fcntl` in station's code fails as on Windows; third-party code keeps it (a hook
        # on sys.meta_path would not do: a module pyserial already imported is served from
        # sys.modules without asking any finder)
        who = (globals or {}).get("__name__") or ""
        station_code = (who == "station" or who.startswith("station.")) and who not in CHOOSES_PER_OS
        if level == 0 and name.partition(".")[0] in BLOCKED and station_code:
            raise ModuleNotFoundError(f"No module named {name!r} (refused to {who})", name=name)
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = refusing_import

    import station

    failed, imported = {}, []
    for info in pkgutil.walk_packages(station.__path__, "station."):
        # the twin is POSIX-only; __main__ would run the CLI
        if info.name.startswith("station.sim") or info.name == "station.__main__":
            continue
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception as exc:
            failed[info.name] = repr(exc)
    print(json.dumps({"failed": failed, "imported": imported}))
""")


def run_child(blocked: tuple[str, ...]) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, ",".join(blocked)],
                         capture_output=True, text=True, timeout=240, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_non_twin_module_imports_without_posix_only_modules() -> None:
    result = run_child(POSIX_ONLY)
    assert result["failed"] == {}
    assert {"station.cli.main", "station.hw.serial", "station.store.engine", "station.pipeline.run"} <= set(
        result["imported"])


def test_the_check_sees_a_station_module_that_needs_fcntl() -> None:
    """With the twin's modules imported too, its POSIX-only pty face is refused: the check can fail."""
    code = CHILD.replace('info.name.startswith("station.sim") or ', "")
    out = subprocess.run([sys.executable, "-c", code, ",".join(POSIX_ONLY)], capture_output=True, text=True,
                         timeout=240)
    failed = json.loads(out.stdout.strip().splitlines()[-1])["failed"]
    assert "'tty'" in failed["station.sim.serial_pty"]
    assert "station.sim.device" not in failed  # its lock is the portable helper
