"""`sendlens run` (the scheduled batch: inbox -> lake -> build -> export), `generate` and `demo`."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from sendlens.commands.build import build
from sendlens.commands.export import export, new_run_id
from sendlens.commands.home import Progress, init_home, quiet
from sendlens.commands.ingest import ingest
from sendlens.config import Settings, iso
from sendlens.core.output import LOG, FileLog, step
from sendlens.errors import SendlensError
from sendlens.lock import home_lock
from sendlens.retention import prune


def generate(out: Path, messages: int, seed: int, progress: Progress = quiet) -> dict[str, Path]:
    from sendlens.sample import generate as _generate

    return _generate(Path(out), messages, seed=seed, progress=progress)

INGEST_ORDER = ("operators", "deliveries", "send_log", "exclusions", "feedback", "tracking")

def run(settings: Settings, as_of: datetime | None = None, include_pii: bool = False,
        progress: Progress = quiet) -> str:
    """The scheduled batch: ingest what waits in ``<home>/inbox/<kind>/``, archive each file once
    landed, build and check, publish, export. One run at a time per home. Every line sendlens
    logs meanwhile (the detail included) also goes to ``<home>/logs/<run-id>.log``."""
    run_id = new_run_id()
    log_path = settings.logs / f"{run_id}.log"
    failures: list[str] = []
    # the lock first: a run that finds another one going touches nothing, not even _tmp
    with home_lock(settings.lock_file, wait_seconds=0):
        init_home(settings)
        with FileLog(log_path):
            log = _both(progress)
            log(f"{run_id}: started")
            started = time.monotonic()
            landed = files = 0
            for kind in INGEST_ORDER:
                inbox = settings.inbox / kind
                entries = sorted(p for p in inbox.iterdir() if not p.name.startswith("."))
                for f in entries:
                    try:
                        if not f.is_file():  # a dangling link, a folder, a socket: never silently
                            raise SendlensError(f"{f}: {_not_a_file(f)}; nothing landed")
                        outcome = ingest(settings, kind, [f], lock=False)[0]
                    except SendlensError as exc:
                        failed = settings.inbox / "_failed" / kind
                        failed.mkdir(parents=True, exist_ok=True)
                        f.rename(failed / f.name)  # a link moves as a link
                        (failed / (f.name + ".error.txt")).write_text(str(exc) + "\n")
                        failures.append(str(exc))
                        LOG.error(f"not landed: {exc}")
                        continue
                    archive = settings.archive / run_id / kind
                    archive.mkdir(parents=True, exist_ok=True)
                    f.rename(archive / f.name)
                    landed += outcome.rows_landed
                    files += 1
                    _ingested(outcome, f"{kind}: {f.name}")
            log(f"ingest: {files} file(s), {landed:,} rows landed"
                + (f", {len(failures)} file(s) not landed" if failures else "")
                + f" ({time.monotonic() - started:.1f} s)")
            result = build(settings, as_of, progress=log, lock=False)
            exported = export(settings, None, include_pii=include_pii, progress=log, run_id=run_id)
            log(prune(settings).summary())  # after the export: the newest export always stays
            summary = (f"{run_id}: landed {landed:,} rows, built as of {iso(result.as_of)}, "
                       f"exported to {exported.out_dir}; log {log_path}")
            if failures:
                log(summary)
                # the headline last: the CLI prints an error's detail lines first
                raise SendlensError(f"{len(failures)} input file(s) could not be landed (moved to "
                                    f"{settings.inbox / '_failed'}); the rest was built and exported\n"
                                    + "\n".join(failures))
    return summary

def _ingested(outcome, what: str) -> None:
    """A landed file: its line in the detail, its warnings and rejected rows as warnings."""
    for w in outcome.warnings:
        LOG.warning(w)
    LOG.debug(f"{what}: {outcome.status}, read {outcome.rows_read:,}, landed {outcome.rows_landed:,}, "
              f"rejected {outcome.rows_rejected:,}")
    if outcome.rows_rejected:
        LOG.warning(f"{what}: {outcome.rows_rejected:,} of {outcome.rows_read:,} rows rejected, each with "
                    f"its reason (audit.rejected_rows; batch {outcome.batch_id})")

def _both(progress: Progress) -> Progress:
    """A run's step line: logged (to the run's log file, and the console the CLI set up) and,
    for a caller that is not the CLI's logger, given to its callback too."""
    def log(msg: str) -> None:
        LOG.info(msg)
        if progress is not step:
            progress(msg)
    return log

def _not_a_file(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"a link to a missing file ({os.readlink(path)})"
    if path.is_dir():
        return "a folder, not a file"
    return "not a regular file"

def demo(settings: Settings, messages: int = 20_000, seed: int = 42, progress: Progress = quiet) -> str:
    """Generate a sample into the home, ingest it, build, check, publish and export."""
    started = time.monotonic()
    with home_lock(settings.lock_file, wait_seconds=600):
        init_home(settings)
    sample = settings.home / "sample"
    progress(f"generating {messages} messages (seed {seed}) into {sample}")
    paths = generate(sample, messages, seed, progress=progress)
    step_started, landed = time.monotonic(), 0
    for kind in INGEST_ORDER:
        for o in ingest(settings, kind, [paths[kind]]):
            _ingested(o, kind)
            landed += o.rows_landed
    progress(f"ingest: {len(INGEST_ORDER)} files, {landed:,} rows landed ({time.monotonic() - step_started:.1f} s)")
    result = build(settings, None, progress=progress)
    exported = export(settings, None, progress=progress)
    return (
        f"demo finished in {time.monotonic() - started:.1f}s\n"
        f"  warehouse: {result.warehouse}\n"
        f"  exports:   {exported.out_dir}\n"
        f"  report:    {exported.html_report}\n"
        f"open it read-only: duckdb -readonly {result.warehouse}"
    )
