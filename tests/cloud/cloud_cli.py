"""The `station cloud` commands alone, as the cloud tests invoke them (no other command's imports)."""

from __future__ import annotations

import click

from station.cli import cloud_cmds
from station.cli.main import StationGroup


def make_cli() -> click.Group:
    @click.group(cls=StationGroup)
    def cli() -> None:
        pass

    cloud_cmds.register(cli)
    return cli
