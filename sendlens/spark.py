"""`sendlens build --engine spark`: the same dbt models and tests on Apache Spark.

dbt runs against the profile's ``spark`` output (dbt-spark, ``method: session``: PySpark in
this machine's JVM, ``local[*]``; a cluster is a profile change, see README "Engines"). The
sources read the lake's Parquet; Spark's working tables live under ``<home>/spark-warehouse``
(scratch: an in-memory catalog, every Spark build is complete). When every model and dbt test
has passed, an on-run-end hook (``macros/spark.sql``, ``publish_marts``) writes each public
mart as Parquet into a new folder under ``<home>/work/``; the data-quality suites then check
those files, and only then does the folder replace ``<home>/warehouse/spark-marts/``. The
DuckDB warehouse is not touched.

Requires the optional extra (``pip install -e '.[spark]'``) and Java 17.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Callable

from sendlens import gate
from sendlens.config import Settings, iso
from sendlens.core.sql import glob_literal, identifier
from sendlens.dbt_runner import DbtFailed, run_dbt

Progress = Callable[[str], None]

# The public marts are the models of schema marts; the hook writes one folder per mart.
MARTS_SCHEMA = "marts"


class SparkUnavailable(Exception):
    """The spark extra or Java is missing."""


def check_requirements() -> None:
    """Raise SparkUnavailable with what to install when Spark cannot run here."""
    missing = [m for m in ("pyspark", "dbt.adapters.spark") if _find_spec(m) is None]
    if missing:
        raise SparkUnavailable(
            f"the spark engine needs the optional extra ({', '.join(missing)} not installed): "
            "pip install -e '.[spark]'")
    java = _java()
    if java is None:
        raise SparkUnavailable("the spark engine needs Java 17 (no java on PATH and JAVA_HOME unset)")
    version = _java_major(java)
    if version is not None and version < 17:
        raise SparkUnavailable(f"the spark engine needs Java 17 or later; {java} is Java {version}")


def _find_spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return None


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def driver_memory(memory_limit: str) -> str:
    """sendlens's memory_limit ("8GB", "512MB") as a JVM size ("8g", "512m")."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", memory_limit, re.IGNORECASE)
    if not m:
        return "2g"
    value, unit = float(m.group(1)), (m.group(2) or "").lower()
    if unit == "":
        return f"{max(1, int(value / 2**20))}m"
    if value != int(value):  # "1.5GB" -> "1536m"
        scale = {"k": 2**-10, "m": 1, "g": 2**10, "t": 2**20}[unit]
        return f"{max(1, int(value * scale))}m"
    return f"{int(value)}{unit}"


def spark_env(settings: Settings) -> dict[str, str]:
    """What profiles.yml's spark output reads: session settings and folders."""
    return {
        "SENDLENS_SPARK_MASTER": settings.spark_master,
        "SENDLENS_SPARK_SHUFFLE_PARTITIONS": str(settings.spark_shuffle_partitions),
        "SENDLENS_SPARK_DRIVER_MEMORY": driver_memory(settings.memory_limit),
        "SENDLENS_SPARK_JAVA_OPTIONS": settings.spark_java_options,
        "SENDLENS_SPARK_WAREHOUSE": str(settings.spark_warehouse),
        "SENDLENS_TEMP_DIR": str(settings.staging_dir / "spark-tmp"),
    }


def run_dbt_spark(settings: Settings, command: list[str], build_vars: dict[str, object],
                  progress: Progress | None = None, extra_vars: dict[str, object] | None = None):
    """``dbt <command>`` on the spark target, with a fresh working warehouse."""
    if settings.spark_warehouse.exists():  # tables of an earlier build: scratch, never read
        shutil.rmtree(settings.spark_warehouse)
    settings.spark_warehouse.mkdir(parents=True)
    (settings.staging_dir / "spark-tmp").mkdir(parents=True, exist_ok=True)
    return run_dbt(settings, settings.spark_warehouse, command, build_vars, progress=progress,
                   target="spark", extra_env=spark_env(settings), extra_vars=extra_vars)


def build(settings: Settings, as_of: datetime, dbt_args: list[str], progress: Progress,
          run_checks: bool = True) -> tuple[Path, list[dict]]:
    """Build every model and test on Spark as of ``as_of``; publish the marts as Parquet into
    ``settings.spark_marts`` when all pass. Returns (that folder, the quality checks).
    Called by ``pipeline.build(engine="spark")`` under the home's lock."""
    check_requirements()
    for stale in settings.staging_dir.glob("spark-marts-*"):  # left by a killed build
        shutil.rmtree(stale, ignore_errors=True)
    for stale in settings.staging_dir.glob("spark-check-*.duckdb*"):
        stale.unlink(missing_ok=True)
    out = settings.staging_dir / f"spark-marts-{uuid.uuid4().hex[:12]}"
    try:
        progress(f"building models on Spark ({settings.spark_master}) as of {iso(as_of)}")
        run_dbt_spark(settings, ["build", *dbt_args], settings.instant_vars(as_of), progress=progress,
                      extra_vars={"spark_publish_dir": str(out)})
        tables = sorted(p.name for p in out.iterdir() if p.is_dir()) if out.exists() else []
        if not tables:
            raise DbtFailed("dbt build on Spark passed but wrote no marts (on-run-end hook publish_marts)")
        progress(f"wrote {len(tables)} marts as Parquet")
        checks = _quality_gate(settings, out, as_of, progress) if run_checks else []
        _swap_into_place(out, settings.spark_marts)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return settings.spark_marts, checks


def mart_views(con, marts_dir: Path, schema: str = MARTS_SCHEMA) -> list[str]:
    """Declare every mart of a published folder as a DuckDB view ``<schema>.<table>``."""
    con.execute(f"create schema if not exists {identifier(schema)}")
    names = []
    for table in sorted(p for p in Path(marts_dir).iterdir() if p.is_dir()):
        con.execute(f"create or replace view {identifier(schema)}.{identifier(table.name)} as "
                    f"select * from read_parquet({glob_literal(table, '/*.parquet')})")
        names.append(table.name)
    return names


def _quality_gate(settings: Settings, marts_dir: Path, as_of: datetime, progress: Progress) -> list[dict]:
    """The data-quality suites (expectations/) on the Parquet marts, through a throwaway DuckDB
    catalog of views; the landing suites read the lake."""
    import duckdb

    from sendlens.ingest.contracts import KINDS
    from sendlens.ingest.lake import Lake

    progress("running data-quality suites on the Spark marts")
    db = settings.staging_dir / f"spark-check-{uuid.uuid4().hex[:12]}.duckdb"
    try:
        con = duckdb.connect(str(db))
        try:
            mart_views(con, marts_dir)
        finally:
            con.close()
        lake = Lake(settings.lake)
        checks = gate.run_suites(
            db, as_of=as_of, failed="data-quality checks failed on the Spark marts; nothing was published.",
            memory_limit=settings.memory_limit, temp_directory=settings.temp_dir,
            lake_globs={kind: lake.data_glob(kind) for kind in KINDS})
    finally:
        for p in (db, Path(str(db) + ".wal")):
            p.unlink(missing_ok=True)
    return checks or []


def _swap_into_place(new: Path, target: Path) -> None:
    """Replace ``target`` by ``new`` (two renames on the same file system)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = new.parent / f"{new.name}-previous"
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def main() -> int:
    """``python -m sendlens.spark``: can the Spark engine run here (the extra, Java 17)?"""
    try:
        check_requirements()
    except SparkUnavailable as exc:
        print(f"sendlens: {exc}", file=sys.stderr)
        return 1
    print(f"spark engine ready: pyspark and dbt-spark installed, {_java()} is Java {_java_major(_java())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
