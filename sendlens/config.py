"""Configuration in one place: paths under the home, model parameters, resource limits.

Every tunable the pipeline has lives in ``Settings``; model parameters reach dbt as vars
(``Settings.dbt_vars``). Values come from defaults, then ``<home>/sendlens.toml`` if present,
then the command line.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_HOME = "sendlens-home"


# dbt vars that change from build to build. sendlens/dbt_runner.py passes them in the
# environment, not in --vars, so that dbt's partial parsing holds (see the build_var macro).
PER_BUILD_VARS = frozenset({"as_of", "stats_at", "stats_delivery_id", "build_mode", "as_of_moved_from",
                            "new_batch_files", "build_state"})
DEFAULT_MEMORY_SHARE = 0.30  # of the machine's RAM, for DuckDB (see DECISIONS.md)


def _default_memory_limit() -> str:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "4GB"
    return f"{max(256, int(total * DEFAULT_MEMORY_SHARE / 2**20))}MiB"


@dataclass
class Settings:
    home: Path
    # dynamic report
    report_window_days: float = 7.0
    # machine-open heuristics (see README, "Machine opens")
    machine_open_seconds: float = 2.0
    machine_click_seconds: float = 10.0
    machine_user_agents: tuple[str, ...] = (
        "GoogleImageProxy", "YahooMailProxy", "ggpht.com", "Apple Mail Privacy",
        "AppleWebKit/605.1.15 (KHTML, like Gecko)$", "Barracuda", "Mimecast", "Proofpoint",
        "Symantec", "Forcepoint", "Trend Micro", "bot", "crawler", "spider", "scanner",
        "Microsoft Office Existence Discovery", "python-requests", "curl/",
    )
    # quarantine rules (SPEC section 4)
    quarantine_min_hours_between_errors: float = 24.0
    quarantine_max_errors: int = 5
    quarantine_counter_reset_days: float = 10.0
    quarantine_mailbox_full_release_days: float = 30.0
    # incremental lookback past validity_end for late feedback and tracking
    late_event_lookback_days: float = 7.0
    # resources
    memory_limit: str = field(default_factory=_default_memory_limit)
    threads: int = max(1, os.cpu_count() or 1)
    # incremental builds write into the published warehouse instead of a copy of it, for a
    # warehouse too large to copy on its disk (see sendlens/publish.py and DECISIONS.md)
    build_in_place: bool = False
    # Apache Spark (`sendlens build --engine spark`, the optional `spark` extra): the master
    # of the in-process session and its shuffle partitions (a few per core for local runs)
    spark_master: str = "local[*]"
    spark_shuffle_partitions: int = 4
    # the in-process JVM: the quick (C1) compiler only, ~25% faster on short local builds; C1
    # alone gets a 48 MB code cache by default, too small for Spark's generated code
    spark_java_options: str = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"

    # ---- paths ----------------------------------------------------------------------------
    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def warehouse(self) -> Path:
        return self.warehouse_dir / "sendlens.duckdb"

    @property
    def spark_marts(self) -> Path:
        """The public marts of the last Spark build, as Parquet: ``<table>/part-*.parquet``."""
        return self.warehouse_dir / "spark-marts"

    @property
    def spark_warehouse(self) -> Path:
        """Spark's working tables (scratch, rebuilt by every Spark build)."""
        return self.home / "spark-warehouse"

    @property
    def staging_dir(self) -> Path:
        return self.home / "work"

    @property
    def temp_dir(self) -> Path:
        return self.home / "work" / "duckdb-tmp"

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def lock_file(self) -> Path:
        return self.home / ".sendlens.lock"

    def dbt_vars(self, as_of: datetime, stats_at: datetime | None = None,
                 stats_delivery_id: str | None = None) -> dict[str, object]:
        return {
            "lake_root": str(self.lake.resolve()),
            "as_of": iso(as_of),
            "stats_at": iso(stats_at or as_of),
            "stats_delivery_id": stats_delivery_id or "",
            "report_window_days": self.report_window_days,
            "machine_open_seconds": self.machine_open_seconds,
            "machine_click_seconds": self.machine_click_seconds,
            "machine_user_agents": list(self.machine_user_agents),
            "quarantine_min_hours_between_errors": self.quarantine_min_hours_between_errors,
            "quarantine_max_errors": self.quarantine_max_errors,
            "quarantine_counter_reset_days": self.quarantine_counter_reset_days,
            "quarantine_mailbox_full_release_days": self.quarantine_mailbox_full_release_days,
            "late_event_lookback_days": self.late_event_lookback_days,
        }


def iso(ts: datetime) -> str:
    """Naive-UTC ISO text, the form dbt vars and SQL literals use."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts.isoformat(sep=" ", timespec="microseconds")


def parse_timestamp(text: str) -> datetime:
    """ISO 8601, UTC unless an offset is given; returns naive UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"invalid timestamp {text!r}: expected ISO 8601 such as 2026-01-05T08:01:00Z"
        ) from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def load_settings(home: str | Path | None = None) -> Settings:
    root = Path(home or os.environ.get("SENDLENS_HOME") or DEFAULT_HOME).expanduser().resolve()
    settings = Settings(home=root)
    cfg = root / "sendlens.toml"
    if cfg.is_file():
        data = tomllib.loads(cfg.read_text())
        known = {f.name for f in fields(Settings)} - {"home"}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"{cfg}: unknown setting {key!r}")
            if isinstance(getattr(settings, key), bool) and not isinstance(value, bool):
                raise ValueError(f"{cfg}: {key} must be true or false, not {value!r}")
            if isinstance(getattr(settings, key), tuple):
                value = tuple(value)
            setattr(settings, key, value)
    return settings
