"""Deciding how a build runs: incrementally on top of the published warehouse, or in full.

An incremental build starts from a copy of the published warehouse (or writes into it, with
``build_in_place``) and recomputes only the messages that new data (batches landed since that
warehouse was built) or a later as_of can change; everything else is kept. It is only taken
when it gives exactly what a full build would: the published warehouse must come from the
same models, macros, seeds and settings (the *fingerprint*), every batch it was built from
must still be in the lake, and as_of must not go back in time. Otherwise, or with
``--full-refresh``, the build is a full one (so is the build after an in-place one that did
not finish).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from sendlens.ingest.lake import Lake
from sendlens.config import PROJECT_DIR, Settings, iso
from sendlens.publish import describe_unfinished, unfinished_in_place_build

STATE_TABLE = "audit.build_state"
_FINGERPRINTED = ("models", "macros", "seeds", "dbt_project.yml")


@dataclass
class BuildPlan:
    mode: str                      # "full" or "incremental"
    reason: str                    # why, for the progress log
    fingerprint: str = ""          # of the code and settings this build runs with
    previous_as_of: datetime | None = None
    new_batch_files: dict[str, list[str]] = field(default_factory=dict)
    new_batches: int = 0
    as_of_moved: bool = False

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    @property
    def nothing_to_do(self) -> bool:
        """A build that would give the published warehouse again: no batch landed since it was
        built, as_of where it was, and no compute-stats since (a snapshot taken then would be
        refreshed by the build)."""
        return self.mode == "no-op"

    def dbt_vars(self, as_of: datetime) -> dict[str, object]:
        return {
            "build_mode": self.mode,
            # set only when as_of moved forward: the window (as_of_moved_from, as_of]
            "as_of_moved_from": iso(self.previous_as_of) if self.as_of_moved else "",
            "new_batch_files": self.new_batch_files,
            # what the build records in audit.build_state (the record_build_state macro; the
            # fingerprint is taken before the build ran, so a model edited meanwhile forces the
            # next build to be full)
            "build_state": {"fingerprint": self.fingerprint, "as_of": iso(as_of), "mode": self.mode,
                            "reason": self.reason, "new_batches": self.new_batches},
        }


def fingerprint(settings: Settings, as_of: datetime) -> str:
    """What the kept rows depend on besides the data: model code and settings."""
    digest = hashlib.sha256()
    vars_ = settings.model_vars()
    vars_.pop("lake_root", None)
    digest.update(json.dumps(vars_, sort_keys=True).encode())
    for name in _FINGERPRINTED:
        root = PROJECT_DIR / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digest.update(str(path.relative_to(PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def lake_batches(lake: Path) -> dict[str, Path]:
    """Every landed batch folder by batch id (the lake's own listing)."""
    return Lake(lake).landed_batches()


def read_state(warehouse: Path) -> tuple[dict | None, set[str]]:
    """The published warehouse's build state and the batch ids it was built from."""
    if not warehouse.exists():
        return None, set()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {r[0] for r in con.execute(
            "select schema_name || '.' || table_name from duckdb_tables()").fetchall()}
        if STATE_TABLE not in tables or "audit.ingest_batches" not in tables:
            return None, set()
        row = con.execute(f"select fingerprint, as_of from {STATE_TABLE}").fetchone()
        batches = {r[0] for r in con.execute("select distinct batch_id from audit.ingest_batches").fetchall()}
    finally:
        con.close()
    if row is None:
        return None, set()
    return {"fingerprint": row[0], "as_of": row[1]}, batches


def stats_since_build(warehouse: Path) -> bool:
    """Whether a compute-stats changed the published warehouse after its build (its gate's
    results are there only then: a build replaces them all)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {r[0] for r in con.execute(
            "select schema_name || '.' || table_name from duckdb_tables()").fetchall()}
        if "audit.gate_results" not in tables:
            return True  # unknown: let the build decide
        return con.execute("select count(*) from audit.gate_results where gate <> 'build'").fetchone()[0] > 0
    finally:
        con.close()


def published_as_of(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The as_of the warehouse open on ``con`` was built at: the one place it is read from (the
    build's own record, audit.build_state)."""
    row = con.execute(f"select max(as_of) from {STATE_TABLE}").fetchone()
    return row[0] if row else None


def plan_build(settings: Settings, as_of: datetime, full_refresh: bool = False) -> BuildPlan:
    current = fingerprint(settings, as_of)
    if full_refresh:
        return BuildPlan("full", "--full-refresh", current)
    unfinished = unfinished_in_place_build(settings.warehouse)
    if unfinished is not None:  # the warehouse may hold part of that build: rebuild it whole
        return BuildPlan("full", describe_unfinished(unfinished), current)
    state, built = read_state(settings.warehouse)
    if state is None:
        return BuildPlan("full", "no published warehouse with a build state", current)
    if state["fingerprint"] != current:
        return BuildPlan("full", "models or settings changed since the published build", current)
    previous_as_of: datetime = state["as_of"]
    naive_as_of = datetime.fromisoformat(iso(as_of))
    if naive_as_of < previous_as_of:
        return BuildPlan("full", f"as_of {iso(as_of)} is before the published build's "
                         f"{iso(previous_as_of)}", current)
    batches = lake_batches(settings.lake)
    missing = built - set(batches)
    if missing:
        return BuildPlan("full", f"{len(missing)} batch(es) of the published build are no longer "
                         "in the lake", current)
    new_files: dict[str, list[str]] = {}
    new_ids = sorted(set(batches) - built)
    for batch_id in new_ids:
        for kind, glob in Lake.batch_files(batches[batch_id]).items():
            new_files.setdefault(kind, []).append(glob)
    moved = naive_as_of > previous_as_of
    if not new_ids and not moved and not stats_since_build(settings.warehouse):
        return BuildPlan("no-op", "no new batch, as_of unchanged, no compute-stats since the published build",
                         current, previous_as_of)
    return BuildPlan("incremental", f"{len(new_ids)} new batch(es) since the published build"
                     + (f", as_of moved from {iso(previous_as_of)}" if moved else ""),
                     current, previous_as_of, new_files, len(new_ids), moved)
