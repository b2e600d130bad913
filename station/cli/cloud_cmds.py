"""``station cloud``: drain the registration outbox to Particle / Peridio, show and retry it.

Registration itself happens offline in the provisioning transaction; these commands only move
the queued entries to the clouds. Credentials come from the environment or the OS keyring and
are never printed, stored in the registry or put in an error message.
"""

from __future__ import annotations

from typing import Any

import click

from station.app.cloud import (
    DEFAULT_PARTICLE_API,
    DEFAULT_PERIDIO_API,
    ENV_VARS,
    PARTICLE,
    PERIDIO,
    Redactor,
    SyncReport,
    check_base_url,
    get_credential,
    how_to_configure,
    is_local_url,
    store_credential,
)
from station.cli.common import (
    db_option,
    echo_json,
    json_option,
    open_session,
    setting_option,
)
from station.errors import CloudError, ConfigError


def _summary(r: SyncReport) -> dict[str, object]:
    return {"requests": r.requests, "imported": r.imported, "grouped": r.grouped,
            "needs_attention": r.needs_attention, "rescheduled": r.rescheduled,
            "missing_credentials": r.missing_credentials, "problems": r.problems,
            "held_back_simulated": r.held_back}


def _held_back_note(n: int) -> str:
    return (f"held back {n} entries of simulated devices: a twin's device ID is never sent to a real cloud "
            "(only to an API on this machine)")


def _in(seconds: int) -> str:
    """``in 4 min 10 s``: how long until a time, as an operator reads it."""
    if seconds < 60:
        return f"in {seconds} s"
    if seconds < 3600:
        m, s = divmod(seconds, 60)
        return f"in {m} min {s} s" if s else f"in {m} min"
    if seconds < 86400:
        h, m = divmod(seconds // 60, 60)
        return f"in {h} h {m} min" if m else f"in {h} h"
    return f"in {seconds // 86400} d {seconds % 86400 // 3600} h"


def _schedule_lines(waiting: dict[str, Any]) -> list[str]:
    """One line per time the waiting entries are next tried, naming the entries (``cloud status``, dry run)."""
    lines = []
    for g in waiting["next_tries"]:
        ids = g["ids"]
        named = ", ".join(map(str, ids)) + (", …" if g["entries"] > len(ids) else "")
        noun = "entry" if g["entries"] == 1 else "entries"
        lines.append(f"  next tried {g['at']} ({_in(g['in_s'])}): {g['entries']} {noun} (id {named})")
    if waiting["more_times"]:
        lines.append(f"  … and at {waiting['more_times']} later times, the last {waiting['last_try_at']} "
                     "(station cloud list --state pending)")
    if waiting["claimed"]:
        lines.append(f"  {waiting['claimed']} being sent now by a drainer (its lease ends within minutes)")
    return lines


def _next_try_note(waiting: dict[tuple[str, str], dict[str, Any]]) -> str:
    """When the first waiting entry is tried again: a retry before then sends nothing."""
    first = min((g for w in waiting.values() for g in w["next_tries"]), key=lambda g: g["at"], default=None)
    if first is None:
        return ""
    return (f"; the first is next tried at {first['at']} ({_in(first['in_s'])}), each one's time in "
            "`station cloud status`")


def _simulated_ok(api_url: str, peridio_url: str) -> frozenset[str]:
    """The targets that are twins of a cloud (an API on this machine): only they take simulated devices."""
    return frozenset(t for t, u in ((PARTICLE, api_url), (PERIDIO, peridio_url)) if is_local_url(u))


def register(cli: click.Group) -> None:
    @cli.group("cloud")
    def cloud() -> None:
        """The cloud outbox: devices registered offline, waiting to be imported."""

    @cloud.command("sync")
    @click.option("--dry-run", is_flag=True,
                  help="Show what would be sent now and when each waiting entry is next tried; send nothing "
                       "(exit 2, as the sync would, when a target with ready entries has no credential).")
    @setting_option("particle_api", "--api-url", show_default=DEFAULT_PARTICLE_API, help="Particle API base URL.")
    @setting_option("peridio_api", "--peridio-url", show_default=DEFAULT_PERIDIO_API, help="Peridio API base URL.")
    @click.option("--watch", is_flag=True, help="Keep draining whenever entries are ready (Ctrl-C stops).")
    @click.option("--interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
                  help="Seconds between passes with --watch.")
    @click.option("--max-time", type=click.FloatRange(min=0), default=None,
                  help="Stop --watch after this many seconds.")
    @click.option("--batch", type=click.IntRange(1, 1000), default=250, show_default=True,
                  help="Device IDs per Particle import request.")
    @db_option
    @json_option
    def sync(dry_run: bool, api_url: str, peridio_url: str, watch: bool, interval: float, max_time: float | None,
             batch: int, db_url: str | None, as_json: bool) -> None:
        """Send queued registrations; entries stay queued when the cloud cannot be reached.

        \b
        Exit status:
          0  every entry that was ready was sent (entries waiting for a retry
             time stay queued; with --watch, entries still queued when the
             watch ends are reported on a "note:" line, not as an error)
          1  some entries need attention (the cloud refused them: see
             `station cloud list --state failed`), or, without --watch, the
             cloud was unreachable and ready entries stay queued
          2  configuration: a malformed --api-url/--peridio-url, or a missing
             or refused credential (--watch stops at once: waiting cannot fix it;
             --dry-run exits 2 for a missing one too)
        """
        import threading

        api_url = check_base_url(api_url, "--api-url (env PARTICLE_API_URL / STATION_PARTICLE_API)")
        peridio_url = check_base_url(peridio_url, "--peridio-url (env PERIDIO_API_URL / STATION_PERIDIO_API)")
        session = open_session(db_url)
        reg = session.registry
        simulated_ok = _simulated_ok(api_url, peridio_url)
        if dry_run:
            lines = session.sync_plan()
            waiting = session.outbox_waiting(simulated_ok)
            missing = session.missing_credentials(simulated_ok)
            held_total = 0
            for ln in lines:
                w = waiting.get((ln["target"], ln["stage"]))
                ln["waiting"], ln["next_tries"] = (w["waiting"], w["next_tries"]) if w else (0, [])
                ln["credential_set"] = session.has_credential(ln["target"])
                # a cloud on this machine (a twin) takes simulated devices too; a real one never does.
                # The two simulated keys appear only on lines that have simulated entries.
                ready_simulated, simulated = ln.pop("ready_simulated"), ln.pop("simulated")
                if ln["target"] in simulated_ok:
                    ln["ready"] += ready_simulated
                elif simulated:
                    ln["simulated"], ln["held_back_simulated"] = simulated, simulated
                    held_total += simulated
            if as_json:
                echo_json(lines)
            else:
                for ln in lines or []:
                    held = (f", {ln['held_back_simulated']} simulated held back"
                            if ln.get("held_back_simulated") else "")
                    wait = f", {ln['waiting']} waiting" if ln["waiting"] else ""
                    click.echo(f"{ln['target']:<9} {ln['stage']:<7} {ln['entries']} pending entries, "
                               f"{ln['ready']} ready now{wait}{held}")
                    w = waiting.get((ln["target"], ln["stage"]))
                    for line in _schedule_lines(w) if w else []:
                        click.echo(line)
                if not lines:
                    click.echo("nothing queued")
            if held_total:
                click.echo(_held_back_note(held_total), err=True)
            if missing:  # the sync would stop here (exit 2): the dry run says so, the same way
                raise ConfigError("; ".join(how_to_configure(t) for t in missing)
                                  + " (the sync would send nothing to "
                                  + " or ".join(t.capitalize() for t in missing) + ")")
            return
        drainer = session.drainer(api_url=api_url, peridio_url=peridio_url, batch=batch,
                                  log=(lambda _m: None) if as_json else (lambda m: click.echo(m, err=True)),
                                  simulated_ok=simulated_ok)
        if watch:
            stop = threading.Event()

            def on_pass(r: SyncReport) -> None:
                if r.missing_credentials:  # credentials are read once: another pass cannot find them
                    stop.set()

            try:
                report = drainer.watch(interval_s=interval, stop=stop, max_time_s=max_time, on_pass=on_pass)
            except KeyboardInterrupt:
                stop.set()
                click.echo("stopped", err=True)
                return
        else:
            report = drainer.drain_once()
        pending = sum(c.pending for c in reg.outbox_counts())
        if as_json:
            echo_json(_summary(report) | {"pending": pending})
        else:
            click.echo(f"{report.requests} requests: {report.imported} imported, {report.grouped} grouped, "
                       f"{report.needs_attention} need attention, {report.rescheduled} stay queued")
            if report.held_back:
                click.echo(_held_back_note(report.held_back), err=True)
        if report.missing_credentials:
            raise ConfigError("; ".join(how_to_configure(t) for t in report.missing_credentials))
        if report.needs_attention:
            raise CloudError(f"{report.needs_attention} entries need attention (station cloud list --state failed)"
                             + (f"; {pending} stay queued for a later sync" if pending else ""))
        if report.rescheduled and not watch:
            raise CloudError(f"the cloud could not be reached: {report.rescheduled} entries stay queued; "
                             "run `station cloud sync` again later (or keep `--watch` running)"
                             + _next_try_note(session.outbox_waiting(simulated_ok)))
        if pending and watch:
            click.echo(f"note: {pending} entries stay queued for the next sync", err=True)

    @cloud.command("status")
    @db_option
    @json_option
    def status(db_url: str | None, as_json: bool) -> None:
        """Pending / imported / failed (needs attention) entries per cloud target, and when waiting ones are tried.

        Pending entries that are not ready (after a failed pass they wait for their backoff or
        the server's Retry-After) are listed by the time the next `station cloud sync` (or a
        running `--watch`) tries them again, with their entry IDs.
        """
        from station.app import settings

        session = open_session(db_url)
        counts = session.outbox_targets()
        simulated_ok = _simulated_ok(str(settings.get("particle_api")), str(settings.get("peridio_api")))
        waiting = session.outbox_waiting(simulated_ok)
        by_target: dict[str, list[dict[str, Any]]] = {}
        for (target, stage), w in sorted(waiting.items()):
            by_target.setdefault(target, []).append(w | {"stage": stage})
        if as_json:
            rows = []
            for c in counts:
                ws = by_target.get(c.target, [])
                tries = sorted(({**g, "stage": w["stage"]} for w in ws for g in w["next_tries"]),
                               key=lambda g: (g["at"], g["stage"]))
                rows.append({"target": c.target, "pending": c.pending, "imported": c.imported, "failed": c.failed,
                             "waiting": sum(w["waiting"] for w in ws),
                             "next_try_at": tries[0]["at"] if tries else None, "next_tries": tries})
            echo_json(rows)
            return
        if not counts:
            click.echo("the outbox is empty")
        for c in counts:
            ws = by_target.get(c.target, [])
            n_wait = sum(w["waiting"] for w in ws)
            wait = f"  waiting {n_wait:>5}" if n_wait else ""
            click.echo(f"{c.target:<9} pending {c.pending:>7}  imported {c.imported:>7}  "
                       f"failed (needs attention) {c.failed:>5}{wait}")
            for w in ws:
                lines = _schedule_lines(w)
                if lines and len(ws) > 1:
                    click.echo(f"  {w['stage']}:")
                for line in lines:
                    click.echo(("  " if len(ws) > 1 else "") + line)

    @cloud.command("list")
    @click.option("--state", type=click.Choice(["pending", "imported", "failed"]), default=None,
                  help="Only entries in this state (failed: the cloud refused them; see `station cloud retry`).")
    @click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
    @db_option
    @json_option
    def list_(state: str | None, limit: int, db_url: str | None, as_json: bool) -> None:
        """Outbox entries with the reason they are waiting or failed."""
        rows = open_session(db_url).outbox_entries(state=state, limit=limit)
        # rows written before reasons were redacted (or by an older station) may hold a credential
        redact = Redactor([get_credential("particle"), get_credential("peridio")])
        for r in rows:
            if r.get("last_error"):
                r["last_error"] = redact(str(r["last_error"]))
        if as_json:
            echo_json(rows)
            return
        if not rows:
            click.echo(f"no {state} entries" if state else "the outbox is empty")
            return
        click.echo(f"{'id':>6} {'target':<8} {'device':<24} {'stage':<7} {'state':<8} tries  last error")
        for r in rows:
            click.echo(f"{r['id']:>6} {r['target']:<8} {r['device_id']:<24} {r['stage']:<7} {r['state']:<8} "
                       f"{r['tries']:>5}  {r['last_error'] or ''}")

    @cloud.command("retry")
    @click.option("--id", "ids", type=int, multiple=True,
                  help="Outbox entry to queue again, failed or waiting (repeatable).")
    @click.option("--all-failed", is_flag=True, help="Queue every failed entry again.")
    @click.option("--all-waiting", is_flag=True,
                  help="Make every waiting entry (held back by a server delay or backoff) ready now.")
    @db_option
    @json_option
    def retry(ids: tuple[int, ...], all_failed: bool, all_waiting: bool, db_url: str | None,
              as_json: bool) -> None:
        """Put failed (parked) or waiting entries back in the queue once their cause is fixed.

        Waiting entries are pending ones a server delay (Retry-After) or a backoff holds back; the
        next `station cloud sync` sends what this made ready. Entries a running sync holds are left
        alone, so no entry is sent twice.
        """
        if not ids and not all_failed and not all_waiting:
            raise ConfigError("give --id N (repeatable), --all-failed or --all-waiting")
        done = open_session(db_url).requeue(list(ids) if ids else None, all_failed=all_failed,
                                            all_waiting=all_waiting)
        n = done.requeued
        if ids and n < len(set(ids)):
            busy = f"; {done.in_flight} are being sent by a running sync" if done.in_flight else ""
            raise ConfigError(f"{len(set(ids)) - n} of the given --id are not failed or waiting outbox entries "
                              f"(queued {n} again{busy}; see `station cloud list`)" if n else
                              f"no failed or waiting outbox entry with id {', '.join(map(str, ids))}{busy} "
                              "(see `station cloud list`)")
        if as_json:
            echo_json({"requeued": n, "failed": done.failed, "waiting": done.waiting,
                       "in_flight": done.in_flight})
            return
        line = f"{n} entries queued again"
        if all_waiting or (ids and done.waiting):
            line += f" ({done.failed} failed, {done.waiting} waiting)"
        if done.in_flight:
            line += f"; {done.in_flight} left alone: a running sync is sending them"
        click.echo(line)

    @cloud.command("login")
    @click.argument("target", type=click.Choice(sorted(ENV_VARS)))
    def login(target: str) -> None:
        """Store TARGET's access token / API key in the OS keyring (prompted, never echoed)."""
        import sys

        if sys.stdin.isatty():
            secret = click.prompt(f"{target} credential", hide_input=True).strip()
        else:  # piped in (`echo tok | station cloud login particle`): nothing to hide, no getpass warning
            secret = sys.stdin.readline().strip()
        if not secret:
            raise ConfigError("empty credential")
        try:
            store_credential(target, secret)
        except Exception as exc:  # keyring backends raise assorted errors (no backend, locked)
            raise ConfigError(f"cannot store the credential in the OS keyring: {exc.__class__.__name__}; "
                              f"set {ENV_VARS[target]} instead") from exc
        click.echo(f"stored the {target} credential in the OS keyring")
