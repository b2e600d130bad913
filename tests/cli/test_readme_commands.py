"""The README's commands work as written on a fresh machine against twins (issue 15).

Every ``sh`` block of README.md carries a marker on the line before it: ``<!-- readme-test: run -->``
(this test runs it) or ``<!-- readme-test: skip REASON -->`` (real hardware, root, the window). The
run blocks are executed in order, one command at a time, by bash in a fresh home folder with no
station setting, credential or XDG folder from the developer's environment; what a command
exports or where it ``cd``s carries to the next, as in one terminal. A command passes when it
exits as its comment says (``exit N``; else 0), prints every text its comment quotes in double
quotes (``"already cached"``; rich's line wrapping aside) and no traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = re.compile(r"^<!--\s*readme-test:\s*(run|skip)\b\s*(.*?)\s*-->$")
FENCE = re.compile(r"^```(\S*)\s*$")
EXPECT = re.compile(r"\bexit (\d+)\b")
QUOTED = re.compile(r'"([^"]+)"')
#: variables a developer's shell may hold that a fresh machine does not
FOREIGN = ("STATION_", "PARTICLE_", "PERIDIO_", "XDG_")


@dataclass(frozen=True)
class Command:
    line: int  # in README.md, for the failure message
    text: str
    expect: int
    says: tuple[str, ...] = ()  # texts the output must contain


@dataclass(frozen=True)
class Block:
    line: int
    action: str  # "run" or "skip"
    reason: str
    commands: tuple[Command, ...]


def parse(markdown: str) -> list[Block]:
    """The ``sh`` blocks with their markers; ValueError for a block without one (or a bad marker)."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"README.md:{start + 1}: the block never ends")
        i = end + 1
        if lang not in ("sh", "console", "bash", "shell"):
            continue
        before = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = MARKER.match(before)
        if mark is None:
            raise ValueError(f"README.md:{start + 1}: an {lang} block without a readme-test marker "
                             "(<!-- readme-test: run --> or <!-- readme-test: skip REASON -->) on the line before")
        action, reason = mark.groups()
        if action == "skip" and not reason:
            raise ValueError(f"README.md:{start}: a skip marker must give its reason")
        blocks.append(Block(start + 1, action, reason, tuple(_commands(lines, start + 1, end))))
    return blocks


def _commands(lines: list[str], first: int, end: int) -> list[Command]:
    out: list[Command] = []
    pending, at = "", first
    for j in range(first, end):
        raw = lines[j]
        if not pending:
            at = j
        parts = re.split(r"\s#(?:\s|$)", raw, maxsplit=1)
        code, comment = parts[0].rstrip(), (parts[1] if len(parts) > 1 else "")
        if code.lstrip().startswith("#"):
            code, comment = "", code
        if code.endswith("\\"):
            pending += code[:-1] + " "
            continue
        text = (pending + code).strip()
        pending = ""
        if not text:
            continue
        m = EXPECT.search(comment)
        out.append(Command(at + 1, text, int(m.group(1)) if m else 0, tuple(QUOTED.findall(comment))))
    return out


def fresh_env(home: Path, shim: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    env.update(HOME=str(home), PATH=f"{shim}{os.pathsep}{env.get('PATH', '')}",
               # a fresh machine has no stored credential: never the developer's keyring
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    return env


def make_shim(folder: Path) -> Path:
    """``station`` on PATH is this interpreter's station (the checkout under test), as an install gives."""
    folder.mkdir()
    exe = folder / "station"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m station "$@"\n')
    exe.chmod(0o755)
    return folder


def run_in_shell(cmd: Command, cwd: Path, env: dict[str, str], state: Path) -> tuple[subprocess.CompletedProcess[str],
                                                                                     Path, dict[str, str]]:
    """Run one command as bash would in a terminal; return its result, the folder and the environment after."""
    script = (f'cd "$1" || exit 99\n{cmd.text}\nrc=$?\npwd > "$2/cwd"\nenv -0 > "$2/env"\nexit $rc\n')
    res = subprocess.run(["bash", "-c", script, "readme", str(cwd), str(state)], env=env, capture_output=True,
                         text=True, timeout=900)
    new_env = env
    if (state / "env").exists():
        new_env = dict(item.split("=", 1) for item in (state / "env").read_text().split("\0") if "=" in item)
        for var in ("SHLVL", "_", "PWD", "OLDPWD"):
            new_env.pop(var, None)
        cwd = Path((state / "cwd").read_text().strip())
    return res, cwd, new_env


def test_every_shell_block_is_marked_and_the_walkthrough_is_there() -> None:
    blocks = parse(README.read_text(encoding="utf-8"))
    run = [c.text for b in blocks if b.action == "run" for c in b.commands]
    assert "station demo" in run
    assert any(c.startswith("station provision --profile") and "--answer" in c for c in run)
    assert all(b.reason for b in blocks if b.action == "skip")
    # the commands a new user meets first are all run, not skipped
    for cmd in ("station devices", "station lot report LOT-0042", "station cloud sync"):
        assert cmd in run


def test_the_parser_refuses_an_unmarked_block_and_reads_expected_exits() -> None:
    with pytest.raises(ValueError, match=r"README\.md:3: an sh block without a readme-test marker"):
        parse("text\n\n```sh\nstation demo\n```\n")
    with pytest.raises(ValueError, match="must give its reason"):
        parse("<!-- readme-test: skip -->\n```sh\nls\n```\n")
    (block,) = parse("<!-- readme-test: run -->\n```sh\n# a note\nstation a \\\n  --b   # fine\n"
                     'station c   # exit 2: "no terminal" here\n\n```\n```toml\n[x]\n```\n')
    assert [(c.text, c.expect, c.line, c.says) for c in block.commands] == [
        ("station a    --b", 0, 4, ()), ("station c", 2, 6, ("no terminal",))]


@pytest.mark.slow
def test_the_readme_commands_run_as_written_on_a_fresh_machine(tmp_path: Path) -> None:
    blocks = [b for b in parse(README.read_text(encoding="utf-8")) if b.action == "run"]
    home, work, state = tmp_path / "home", tmp_path / "work", tmp_path / "state"
    for d in (home, work, state):
        d.mkdir()
    env = fresh_env(home, make_shim(tmp_path / "bin"))
    cwd = work
    for block in blocks:
        for cmd in block.commands:
            res, cwd, env = run_in_shell(cmd, cwd, env, state)
            said = f"README.md:{cmd.line}: `{cmd.text}`\n--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-3000:]}"
            assert res.returncode == cmd.expect, f"exit {res.returncode}, the README says {cmd.expect}: {said}"
            assert "Traceback" not in res.stderr, said
            output = " ".join((res.stdout + res.stderr).split())  # a wrapped line is still the same words
            for text in cmd.says:
                assert text in output, f"the README says it prints {text!r}: {said}"
    # what the walkthrough promised is there
    assert (work / "LOT-0042.txt").read_text().count("e00fce68") == 4
    assert (work / "LOT-0042.txt.sha256").is_file() and (work / "reprint.png").stat().st_size > 0
    assert (home / ".local" / "share" / "station" / "station.db").is_file()  # the user's registry, by default


def inline_commands(markdown: str) -> list[str]:
    """The ``station …`` commands the README's prose quotes in backticks (not the shell blocks)."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return sorted(set(re.findall(r"`(station(?: [^`]*)?)`", prose)))


def test_every_command_the_prose_names_exists_with_its_options() -> None:
    """A command quoted in a sentence (``station demo --devices 8 --transport usb``) is one a user
    types: its subcommands and options must exist. Placeholders (CMD, *) end the check there."""
    import shlex

    from click.testing import CliRunner

    from station.cli.main import cli

    checked = 0
    for text in inline_commands(README.read_text(encoding="utf-8")):
        words = shlex.split(text)[1:]
        if any(w in ("CMD", "*") for w in words):
            continue
        cut = words.index("--") if "--" in words else len(words)
        args = [*words[:cut], "--help", *words[cut:]]  # parsed in full (an unknown option fails), never run
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0 and ("Usage:" in res.output or words == ["--version"]), \
            f"README's `{text}`: {res.output}"
        checked += 1
    assert checked >= 10
