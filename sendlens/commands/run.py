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
from sendlens.config import Settings, iso, utc_now
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
    landed, build and check, publish, export. One run at a time per home."""
    run_id = new_run_id()
    log_path = settings.logs / f"{run_id}.log"

    def log(msg: str) -> None:
        with open(log_path, "a") as fh:
            fh.write(f"{iso(utc_now())} {msg}\n")
        progress(msg)

    failures: list[str] = []
    # the lock first: a run that finds another one going touches nothing, not even _tmp
    with home_lock(settings.lock_file, wait_seconds=0):
        init_home(settings)
        log(f"{run_id}: started")
        landed = 0
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
                    log(f"FAILED {exc}")
                    continue
                archive = settings.archive / run_id / kind
                archive.mkdir(parents=True, exist_ok=True)
                f.rename(archive / f.name)
                landed += outcome.rows_landed
                log(f"{kind}: {f.name}: {outcome.status}, read {outcome.rows_read}, landed "
                    f"{outcome.rows_landed}, rejected {outcome.rows_rejected}")
        result = build(settings, as_of, progress=log, lock=False)
        log(f"built as of {iso(result.as_of)} in {result.seconds:.1f}s")
        exported = export(settings, None, include_pii=include_pii, progress=log, run_id=run_id)
        log(f"exported to {exported.out_dir}")
        log(prune(settings).summary())  # after the export: the newest export always stays
    summary = (f"{run_id}: landed {landed} rows, built as of {iso(result.as_of)}, "
               f"exported to {exported.out_dir}; log {log_path}")
    if failures:
        raise SendlensError(summary + f"\n{len(failures)} input file(s) could not be landed "
                            f"(moved to {settings.inbox / '_failed'}):\n" + "\n".join(failures))
    return summary

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
    for kind in INGEST_ORDER:
        for o in ingest(settings, kind, [paths[kind]]):
            progress(f"{kind}: {o.status}: read {o.rows_read}, landed {o.rows_landed}, rejected {o.rows_rejected}")
    result = build(settings, None, progress=progress)
    exported = export(settings, None, progress=progress)
    return (
        f"demo finished in {time.monotonic() - started:.1f}s\n"
        f"  warehouse: {result.warehouse}\n"
        f"  exports:   {exported.out_dir}\n"
        f"  report:    {exported.html_report}\n"
        f"open it read-only: duckdb -readonly {result.warehouse}"
    )
