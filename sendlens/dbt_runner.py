"""Run dbt (the project at the repository root) against one DuckDB file, or on Spark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sendlens.config import PER_BUILD_VARS, PROJECT_DIR, Settings


class DbtFailed(Exception):
    """dbt exited non-zero: a model failed to build or a check failed."""


@dataclass
class DbtResult:
    args: list[str]
    returncode: int
    failures: list[str]
    log: str


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
    )
    return env


def manifest_path(settings: Settings, target: str = "duckdb") -> Path:
    """dbt's manifest of the last run (parsed models, their configs and declarations)."""
    return settings.staging_dir / ("dbt" if target == "duckdb" else f"dbt-{target}") / "target" / "manifest.json"


def run_dbt(settings: Settings, database: Path, command: list[str],
            build_vars: dict[str, object] | None = None,
            progress: Callable[[str], None] | None = None, target: str = "duckdb",
            extra_env: dict[str, str] | None = None,
            extra_vars: dict[str, object] | None = None) -> DbtResult:
    """Run ``dbt <command>``; raise DbtFailed with a readable summary on failure.

    The settings' vars (``settings.model_vars()``, plus ``extra_vars``) go in ``--vars``; the
    per-build values ``build_vars`` (PER_BUILD_VARS only: the instants, the incremental plan) go
    in the environment, read by the build_var macro, because dbt re-parses the whole project
    when ``--vars`` change. ``target`` is a profiles.yml output (``duckdb``, the default, or
    ``spark``); ``extra_env`` adds environment variables the profile reads (the Spark
    session's settings)."""
    unknown = sorted(set(build_vars or {}) - PER_BUILD_VARS)
    if unknown:
        raise ValueError(f"not per-build vars: {', '.join(unknown)} (settings come from Settings.model_vars)")
    work = manifest_path(settings, target).parent.parent
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
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=str(PROJECT_DIR))
    lines: list[str] = []
    failures: list[str] = []
    assert proc.stdout is not None
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
        if name in ("LogModelResult", "LogTestResult", "LogSeedResult") and progress:
            progress(msg)
        if level == "error" or name in ("RunResultError", "RunResultFailure", "RunResultErrorNoMessage"):
            if msg.strip():
                failures.append(msg.strip())
    proc.wait()
    result = DbtResult(args, proc.returncode, failures, "".join(lines))
    if proc.returncode != 0:
        summary = "\n".join(failures[:20]) or _tail(lines)
        raise DbtFailed(f"dbt {' '.join(command)} failed:\n{summary}")
    return result


def _tail(lines: list[str], n: int = 15) -> str:
    out = []
    for line in lines[-n:]:
        try:
            out.append(json.loads(line).get("info", {}).get("msg", line).strip())
        except json.JSONDecodeError:
            out.append(line.strip())
    return "\n".join(out)
