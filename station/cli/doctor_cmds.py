"""``station doctor``: is this PC ready to run the station? Checks, and the command that fixes each.

Exit 0 when every check passes, 1 when one does not (like a failed device: something on the line
needs fixing), so an install script can run it last.
"""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from station.cli.common import echo_json, json_option


def register(cli: click.Group) -> None:
    @cli.command()
    @json_option
    def doctor(as_json: bool) -> None:
        """Check the udev rules, the plugdev group, access to every attached probe and device, and the registry setting."""
        from station.app.doctor import checks

        findings = checks()
        if as_json:
            echo_json({"ok": all(f.ok for f in findings), "checks": [asdict(f) for f in findings]})
        else:
            for f in findings:
                click.echo(f"{'ok ' if f.ok else 'FIX'}  {f.check}: {f.detail}")
                if not f.ok and f.fix:
                    click.echo(f"     run: {f.fix}")
        if not all(f.ok for f in findings):
            sys.exit(1)
