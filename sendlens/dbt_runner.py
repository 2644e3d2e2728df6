"""Run dbt (the project at the repository root) against one DuckDB file, or on Spark."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sendlens.config import PER_BUILD_VARS, PROJECT_DIR, Settings
from sendlens.core.output import NodeBar

LOG = logging.getLogger("sendlens.dbt")
_RESULTS = {"LogModelResult": "model", "LogTestResult": "test", "LogSeedResult": "seed",
            "LogSnapshotResult": "snapshot"}
_PLURAL = {"model": "models", "test": "tests", "seed": "seeds", "snapshot": "snapshots"}


class DbtFailed(Exception):
    """dbt exited non-zero: a model failed to build or a check failed."""


@dataclass
class DbtResult:
    args: list[str]
    returncode: int
    failures: list[str]
    log: str
    summary: "DbtSummary" = None  # type: ignore[assignment]


@dataclass
class DbtSummary:
    """What a dbt run did, in a line: nodes per type and status, and each warning named."""

    counts: Counter = field(default_factory=Counter)  # (resource type, status) -> nodes
    warned: list[dict] = field(default_factory=list)  # the data of each test that warned
    descriptions: dict[str, str] = field(default_factory=dict)  # test unique_id -> its YAML description

    def add(self, kind: str, data: dict) -> None:
        status = str(data.get("status") or "").lower()
        self.counts[(kind, status)] += 1
        if status == "warn":
            self.warned.append(data)

    @property
    def warnings(self) -> list[str]:
        """Each warning named: the test's model, its failing rows, what it checks (its YAML
        description, when it has one) and its dbt name."""
        out = []
        for data in self.warned:
            node = data.get("node_info") or {}
            name = node.get("node_name") or data.get("name")
            on = str(data.get("attached_node") or "").split(".")[-1]
            failing = data.get("num_failures")
            what = self.descriptions.get(node.get("unique_id", ""), "")
            out.append(f"dbt test on {on or '?'} warned"
                       + (f" ({failing} row{'s' if failing != 1 else ''})" if failing is not None else "")
                       + (f": {what.strip()}" if what.strip() else "") + f" [{name}]")
        return out

    def line(self) -> str:
        """e.g. ``46 models, 2 seeds, 226 tests: 225 passed, 1 warned, 0 failed``."""
        kinds = [k for k in ("model", "seed", "snapshot") if self._total(k)]
        parts = [f"{self._total(k)} {_PLURAL[k] if self._total(k) != 1 else k}" for k in kinds]
        built_failed = sum(n for (k, s), n in self.counts.items() if k != "test" and s in ("error", "fail"))
        tests = self._total("test")
        text = ", ".join(parts) or "no models"
        if built_failed:
            text += f" ({built_failed} failed)"
        if tests:
            passed = self.counts[("test", "pass")]
            warned = self.counts[("test", "warn")]
            failed = self.counts[("test", "fail")] + self.counts[("test", "error")]
            text += f", {tests} tests: {passed} passed, {warned} warned, {failed} failed"
        skipped = sum(n for (k, s), n in self.counts.items() if s == "skipped")
        if skipped:
            text += f", {skipped} skipped"
        return text

    def _total(self, kind: str) -> int:
        return sum(n for (k, _), n in self.counts.items() if k == kind)


def _env(settings: Settings, database: Path) -> dict[str, str]:
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        SENDLENS_DBT_DATABASE=str(database),
        SENDLENS_THREADS=str(settings.threads),
        SENDLENS_MEMORY_LIMIT=settings.memory_limit,
        SENDLENS_TEMP_DIR=str(settings.temp_dir),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",  # dbt's events as they happen (the progress bar, --verbose), not in blocks
    )
    return env


def work_dir(settings: Settings, work: str) -> Path:
    """The folder of one kind of dbt run (its target/ and logs/) under the home's work folder."""
    return settings.staging_dir / work


def manifest_path(settings: Settings, target: str = "duckdb") -> Path:
    """dbt's manifest of the last build (parsed models, their configs and declarations)."""
    return work_dir(settings, "dbt" if target == "duckdb" else f"dbt-{target}") / "target" / "manifest.json"


def run_dbt(settings: Settings, database: Path, command: list[str],
            build_vars: dict[str, object] | None = None,
            progress: Callable[[str], None] | None = None, target: str = "duckdb",
            extra_env: dict[str, str] | None = None,
            extra_vars: dict[str, object] | None = None, work_folder: str | None = None) -> DbtResult:
    """Run ``dbt <command>``; raise DbtFailed with a readable summary on failure.

    The settings' vars (``settings.model_vars()``, plus ``extra_vars``) go in ``--vars``; the
    per-build values ``build_vars`` (PER_BUILD_VARS only: the instants, the incremental plan) go
    in the environment, read by the build_var macro, because dbt re-parses the whole project
    when ``--vars`` change. ``target`` is a profiles.yml output (``duckdb``, the default, or
    ``spark``); ``extra_env`` adds environment variables the profile reads (the Spark
    session's settings); ``work_folder`` names a work folder of its own (default: the builds' one,
    whose manifest the incremental plan and the gates read)."""
    unknown = sorted(set(build_vars or {}) - PER_BUILD_VARS)
    if unknown:
        raise ValueError(f"not per-build vars: {', '.join(unknown)} (settings come from Settings.model_vars)")
    work = work_dir(settings, work_folder) if work_folder else manifest_path(settings, target).parent.parent
    per_build = dict(build_vars or {})
    constant = {**settings.model_vars(), **(extra_vars or {})}
    args = [
        sys.executable, "-m", "dbt.cli.main", *command,
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--vars", json.dumps(constant),
        "--log-format", "json",
    ]
    if target != "duckdb":
        args += ["--target", target]
    env = _env(settings, database)
    env["SENDLENS_BUILD_VARS"] = json.dumps(per_build)
    env.update(extra_env or {})
    # the gate reads this run's test results: none of an earlier run may stand in for them
    (work / "target" / "run_results.json").unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=str(PROJECT_DIR))
    lines: list[str] = []
    failures: list[str] = []
    summary = DbtSummary()
    bar = NodeBar(f"dbt {command[0]}")
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            info = event.get("info", {})
            msg = info.get("msg", "")
            name = info.get("name", "")
            level = info.get("level", "")
            if name in _RESULTS:  # one line per node: the detail under the step's summary
                data = event.get("data", {})
                summary.add(_RESULTS[name], data)
                LOG.debug(msg)
                bar.update(data.get("index"), data.get("num_models") or data.get("total"))
            if level == "error" or name in ("RunResultError", "RunResultFailure", "RunResultErrorNoMessage"):
                if msg.strip():
                    failures.append(msg.strip())
        proc.wait()
    finally:
        bar.close()
    result = DbtResult(args, proc.returncode, failures, "".join(lines), summary)
    if summary.warned:
        summary.descriptions = _test_descriptions(work / "target" / "manifest.json")
    for warning in summary.warnings:
        logging.getLogger("sendlens").warning(warning)
    if progress and summary.counts:
        progress(f"dbt {command[0]}: {summary.line()} ({time.monotonic() - started:.1f} s)")
    if proc.returncode != 0:
        summary = "\n".join(failures[:20]) or _tail(lines)
        raise DbtFailed(f"dbt {' '.join(command)} failed:\n{summary}")
    return result


def _test_nodes(manifest: Path) -> dict[str, dict]:
    """The tests of dbt's manifest by unique_id ({} when it cannot be read)."""
    try:
        nodes = json.loads(manifest.read_text())["nodes"]
    except (OSError, ValueError, KeyError):
        return {}
    return {uid: n for uid, n in nodes.items() if n.get("resource_type") == "test"}


def _test_descriptions(manifest: Path) -> dict[str, str]:
    return {uid: n.get("description") or "" for uid, n in _test_nodes(manifest).items()}


def test_results(settings: Settings, target: str = "duckdb") -> list[dict]:
    """Every dbt test of the last run in the builds' work folder (a gate reads it right after
    its build), from dbt's run_results.json and manifest.json: {name, unique_id, model (the
    model or models it tests), column, description (its YAML description, or ""), severity,
    status (pass | warn | fail | error | skipped), failures (failing rows, or None), message}.
    Failures first, then warnings, then by model and name; [] when dbt wrote no results."""
    folder = manifest_path(settings, target).parent
    try:
        results = json.loads((folder / "run_results.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    nodes = _test_nodes(folder / "manifest.json")
    out = []
    for r in results:
        uid = str(r.get("unique_id") or "")
        if not uid.startswith("test."):
            continue
        node = nodes.get(uid, {})
        attached = str(node.get("attached_node") or "")
        models = ([attached] if attached else
                  [n for n in (node.get("depends_on") or {}).get("nodes", []) if n.startswith(("model.", "seed.", "snapshot."))])
        out.append({
            "name": node.get("name") or uid,
            "unique_id": uid,
            "model": ", ".join(m.split(".")[-1] for m in models),
            "column": node.get("column_name") or None,
            "description": (node.get("description") or "").strip(),
            "severity": str((node.get("config") or {}).get("severity") or "error").lower(),
            "status": str(r.get("status") or "").lower(),
            "failures": r.get("failures"),
            "message": (r.get("message") or "").strip() or None,
        })
    order = {"fail": 0, "error": 0, "warn": 1}
    return sorted(out, key=lambda t: (order.get(t["status"], 2), t["model"], t["name"]))


def _tail(lines: list[str], n: int = 15) -> str:
    out = []
    for line in lines[-n:]:
        try:
            out.append(json.loads(line).get("info", {}).get("msg", line).strip())
        except json.JSONDecodeError:
            out.append(line.strip())
    return "\n".join(out)
