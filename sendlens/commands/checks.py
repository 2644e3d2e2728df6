"""The quality gate of a build or a compute-stats: the data-quality suites on what the build
wrote (the recomputed rows of an incremental one), with their library preloaded and a
second process for a full build's suites."""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import datetime
from pathlib import Path

from sendlens.ingest.contracts import KINDS
from sendlens.ingest.lake import Lake
from sendlens import gate, kept
from sendlens.commands.home import Progress
from sendlens.config import Settings
from sendlens.dbt_runner import manifest_path, test_results
from sendlens.incremental import BuildPlan


def preload_checks() -> threading.Thread:
    """Import the suites' library in the background while dbt runs in its own process (it
    takes seconds, a sizeable share of a small incremental build). Failures surface later,
    when the quality gate imports it for real."""
    def load() -> None:
        try:
            from sendlens.expectations.runner import preload

            preload()
        except Exception:
            pass

    thread = threading.Thread(target=load, name="preload-checks", daemon=True)
    thread.start()
    return thread

def start_suite_helper():
    """A second process for the suites, started now so that it imports great-expectations
    while dbt runs; None when it cannot start (the suites then run in this process)."""
    try:
        from sendlens.expectations.helper import SuiteHelper

        return SuiteHelper()
    except Exception:
        return None

def quality_gate(settings: Settings, db: Path, as_of: datetime, progress: Progress,
                  plan: BuildPlan | None = None, helper=None, *, outcome: str,
                  suites: list[str] | None = None) -> tuple[list[dict], dict[str, str]]:
    """Run the data-quality suites on the build file ``db``; return the checks and the
    data-quality page (with the dbt tests of the run just before: every gate on one page, and
    great-expectations' Data Docs beside it), or raise ChecksFailed (saying ``outcome``) when
    any failed."""
    incremental = plan is not None and plan.incremental
    progress("running data-quality suites" + (" on the new batches and recomputed rows" if incremental else ""))
    docs = settings.staging_dir / "data-docs"
    if docs.exists():
        shutil.rmtree(docs)
    new_batches = None
    if incremental:  # the landing suites validate what landed since the published build
        lake = Lake(settings.lake)
        new_batches = {kind: [lake.empty_batch_files(kind), *plan.new_batch_files.get(kind, [])]
                       for kind in KINDS}
    changed = None
    if incremental:  # the rows the build recomputed, from the models' kept_by declarations
        changed = kept.recomputed_rows(kept.read_manifest(manifest_path(settings)), plan.as_of_moved)
    checks = gate.run_suites(db, as_of=as_of, failed=f"data-quality checks failed; {outcome}.",
                             memory_limit=settings.memory_limit, temp_directory=settings.temp_dir,
                             docs_dir=docs, lake_globs=new_batches, changed=changed, helper=helper,
                             suites=suites, dbt_tests=test_results(settings))
    if checks is None:  # suites not installed: dbt tests alone gate
        return [], {}
    return checks, gate.read_documents(docs)

def checks_line(checks: list[dict]) -> str:
    """The gate's checks in a line: ``20 data-quality checks: 20 passed`` (or ``none ran``)."""
    if not checks:
        return "no data-quality suites ran (great-expectations not installed: dbt's tests alone gate)"
    counts: dict[str, int] = {}
    for c in checks:
        counts[str(c.get("status"))] = counts.get(str(c.get("status")), 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: kv[0] != "passed")]
    return f"{len(checks)} data-quality checks: " + ", ".join(parts)


def warn_checks(checks: list[dict], most: int = 5) -> None:
    """The warnings of the gate's checks in the run's output (a stale feed among them), at most
    ``most`` per check; the data-quality page lists them all."""
    log = logging.getLogger("sendlens")
    for c in checks:
        found = c.get("warnings") or []
        for w in found[:most]:
            log.warning(f"{c['name']}: {w}")
        if len(found) > most:
            log.warning(f"{c['name']}: {len(found) - most} more warning(s) on the data-quality page")
