"""`sendlens ingest`: land files of one kind, or an ESP export, into the lake."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

from sendlens.ingest.contracts import KINDS
from sendlens.ingest.land import IngestError, IngestOutcome, ingest_file
from sendlens.commands.home import connect, init_home
from sendlens.config import Settings
from sendlens.errors import SendlensError
from sendlens.lock import home_lock


def ingest(settings: Settings, kind: str, files: list[Path], source: str | None = None,
           lock: bool = True, delivery_field: str | None = None) -> list[IngestOutcome]:
    """Land files of one kind (or an ESP export with ``source``). Stops at the first file that
    cannot be landed at all; files before it stay landed (each file is its own batch)."""
    if kind not in KINDS and source is None:
        raise SendlensError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    for f in files:
        if not Path(f).is_file():
            raise SendlensError(f"{f}: no such file")
    bounds = settings.bounds()
    ctx = home_lock(settings.lock_file, wait_seconds=600) if lock else nullcontext()
    with ctx:
        lake = init_home(settings)
        con = connect(settings)
        try:
            outcomes: list[IngestOutcome] = []
            for f in files:
                try:
                    if source:
                        from sendlens.ingest.esp import ingest_export  # optional ESP mappings
                        outcomes.extend(ingest_export(con, lake, source, Path(f), delivery_field=delivery_field,
                                                      bounds=bounds))
                    else:
                        outcomes.append(ingest_file(con, lake, kind, Path(f), bounds=bounds))
                except IngestError as exc:
                    raise SendlensError(str(exc)) from None
            return outcomes
        finally:
            con.close()
