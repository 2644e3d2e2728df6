"""Configuration in one place: paths under the home, model parameters, resource limits.

Every tunable the pipeline has lives in ``Settings``; model parameters reach dbt as vars
(``Settings.dbt_vars``). Values come from defaults, then ``<home>/sendlens.toml`` if present,
then the command line.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import Field, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

# the dbt project: shipped inside the package by a wheel (setup.py), else the repository's
_PACKAGED_PROJECT = Path(__file__).resolve().parent / "project"
PROJECT_DIR = (_PACKAGED_PROJECT if (_PACKAGED_PROJECT / "dbt_project.yml").is_file()
               else Path(__file__).resolve().parents[1])
DEFAULT_HOME = "sendlens-home"


# dbt vars that change from build to build. sendlens/dbt_runner.py passes them in the
# environment, not in --vars, so that dbt's partial parsing holds (see the build_var macro).
PER_BUILD_VARS = frozenset({"as_of", "stats_at", "stats_delivery_id", "build_mode", "as_of_moved_from",
                            "new_batch_files", "build_state"})
DEFAULT_MEMORY_SHARE = 0.30  # of the machine's RAM, for DuckDB (see DECISIONS.md)


MACHINE_USER_AGENTS: tuple[str, ...] = (
    "GoogleImageProxy", "YahooMailProxy", "ggpht.com", "Apple Mail Privacy",
    "AppleWebKit/605.1.15 (KHTML, like Gecko)$", "Barracuda", "Mimecast", "Proofpoint",
    "Symantec", "Forcepoint", "Trend Micro", "bot", "crawler", "spider", "scanner",
    "Microsoft Office Existence Discovery", "python-requests", "curl/",
)


def _default_memory_limit() -> str:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "4GB"
    return f"{max(256, int(total * DEFAULT_MEMORY_SHARE / 2**20))}MiB"


def setting(default: Any = None, doc: str = "", *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, dbt: bool = False, pattern: str | None = None,
            factory: Callable[[], Any] | None = None) -> Any:
    """One setting: its default, what it means, its bounds ([lo, hi], or (lo, hi] with
    ``lo_open``), a pattern its text must match, and whether dbt gets it as a var. The type is
    the field's annotation."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "lo_open": lo_open, "dbt": dbt, "pattern": pattern}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


_SIZE = r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)"


@dataclass
class Settings:
    """Every setting, with its type, bounds and default: the one place (README, Configuration).
    ``load_settings`` fills it from the defaults, ``<home>/sendlens.toml`` and ``SENDLENS_<NAME>``
    environment variables, and validates every value, naming the key."""

    home: Path
    # dynamic report
    report_window_days: float = setting(7.0, "days after the contact date that the report counts tracking",
                                        lo=0, hi=366, lo_open=True, dbt=True)
    # machine-open heuristics (see README, "Machine opens")
    machine_open_seconds: float = setting(2.0, "an open this soon after the relay is a prefetch",
                                          lo=0, hi=3600, dbt=True)
    machine_click_seconds: float = setting(10.0, "a click this soon after the relay is a link scanner",
                                           lo=0, hi=3600, dbt=True)
    machine_user_agents: tuple[str, ...] = setting(factory=lambda: MACHINE_USER_AGENTS, dbt=True,
                                                   doc="user-agent patterns (regular expressions, "
                                                       "any case) of proxies, scanners and bots")
    # quarantine rules (SPEC section 4)
    quarantine_min_hours_between_errors: float = setting(
        24.0, "errors closer together than this count once", lo=0, hi=8760, dbt=True)
    quarantine_max_errors: int = setting(5, "errors that put an address in quarantine", lo=1, hi=1000, dbt=True)
    quarantine_counter_reset_days: float = setting(
        10.0, "days without an error after which the error counter restarts", lo=0, hi=3660, lo_open=True, dbt=True)
    quarantine_mailbox_full_release_days: float = setting(
        30.0, "days after which a mailbox-full quarantine is released", lo=0, hi=3660, lo_open=True, dbt=True)
    # incremental lookback past validity_end for late feedback and tracking
    late_event_lookback_days: float = setting(
        7.0, "days past validity_end an incremental build still recomputes a message", lo=0, hi=3660, dbt=True)
    # stale feeds (marts.rpt_source_freshness): the sends go on, the feed does not
    stale_feedback_hours: float = setting(
        6.0, "hours of sends after the newest MTA feedback event at which the feedback feed is stale",
        lo=0, hi=8760, lo_open=True, dbt=True)
    stale_tracking_hours: float = setting(
        24.0, "hours of sends after the newest tracking event at which the tracking feed is stale",
        lo=0, hi=8760, lo_open=True, dbt=True)
    # the calendar days of marts.rpt_delivery_kpis_daily (an IANA zone; every stored timestamp stays UTC)
    reporting_time_zone: str = setting("UTC", "IANA time zone whose calendar days the daily KPIs are counted in, "
                                              "e.g. Europe/Amsterdam", dbt=True)
    # range rules at ingest (and for --as-of / --at): a value outside them is a typo or a
    # poison value that would fail every later build's checks, so its row is rejected
    earliest_timestamp: str = setting("2000-01-01T00:00:00Z", "no timestamp before it (ISO 8601)")
    latest_ahead_days: float = setting(366.0, "no timestamp later than now plus these days",
                                       lo=0, hi=36600, lo_open=True)
    max_validity_hours: float = setting(8760.0, "validity_hours must lie in (0, this]",
                                        lo=0, hi=87600, lo_open=True)
    max_attempt: int = setting(1000, "a feedback attempt must lie in [0, this]", lo=0, hi=10**9)
    # resources
    memory_limit: str = setting(factory=lambda: _default_memory_limit(), pattern=_SIZE,
                                doc="DuckDB's memory limit (30% of RAM by default), e.g. 8GB")
    threads: int = setting(factory=lambda: max(1, os.cpu_count() or 1), lo=1, hi=1024,
                           doc="DuckDB's and dbt's threads (the machine's cores by default)")
    # incremental builds write into the published warehouse instead of a copy of it, for a
    # warehouse too large to copy on its disk (see sendlens/publish.py and DECISIONS.md)
    build_in_place: bool = setting(False, "incremental builds write into the published warehouse")
    # Apache Spark (`sendlens build --engine spark`, the optional `spark` extra): the master
    # of the in-process session and its shuffle partitions (a few per core for local runs)
    spark_master: str = setting("local[*]", "the Spark master of `build --engine spark`")
    spark_shuffle_partitions: int = setting(4, "Spark's shuffle partitions", lo=1, hi=100000)
    # the in-process JVM: the quick (C1) compiler only, ~25% faster on short local builds; C1
    # alone gets a 48 MB code cache by default, too small for Spark's generated code
    spark_java_options: str = setting("-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m",
                                      "Java options of Spark's in-process JVM")
    # retention, applied by `sendlens run` after its export (sendlens/retention.py); 0 keeps all
    keep_exports: int = setting(48, "export folders of runs kept under <home>/exports (the newest; 0: all)",
                                lo=0, hi=10**6)
    keep_logs: float = setting(30.0, "days run logs are kept under <home>/logs (0: forever)", lo=0, hi=36600)
    keep_archive: float = setting(30.0, "days landed inbox files are kept under <home>/archive (0: forever)",
                                  lo=0, hi=36600)
    # where each value came from: "default", the settings file, or "environment" (sendlens config)
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False,
                                    metadata={"internal": True})

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

    # ---- range rules -------------------------------------------------------------------------
    @property
    def earliest_at(self) -> datetime:
        return parse_timestamp(self.earliest_timestamp)

    def bounds(self):
        """The range rules, for ingest (``ingest.contracts.Bounds``)."""
        from sendlens.ingest.contracts import Bounds

        return Bounds(earliest_at=self.earliest_at, latest_ahead_days=float(self.latest_ahead_days),
                      max_validity_hours=float(self.max_validity_hours), max_attempt=int(self.max_attempt))

    def check_instant(self, ts: datetime, what: str) -> None:
        """Refuse an instant outside the range rules (a year 9999 would pass no check)."""
        latest = utc_now() + timedelta(days=float(self.latest_ahead_days))
        naive = parse_timestamp(ts.isoformat()) if ts.tzinfo is not None else ts
        if not (self.earliest_at <= naive <= latest):
            raise ValueError(f"{what} {iso(naive)} is out of range: it must lie between "
                             f"{iso(self.earliest_at)} and {iso(latest)} (now + latest_ahead_days "
                             f"= {self.latest_ahead_days:g}; earliest_timestamp and latest_ahead_days "
                             "in sendlens.toml)")

    def model_vars(self) -> dict[str, object]:
        """The dbt vars that stay put from build to build: every setting declared ``dbt=True``
        and the lake (dbt_project.yml holds no second copy of a default). They go in ``--vars``."""
        return {"lake_root": str(self.lake.resolve()),
                **{f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                   for f in setting_fields() if f.metadata["dbt"]}}

    @staticmethod
    def instant_vars(as_of: datetime, stats_at: datetime | None = None,
                     stats_delivery_id: str | None = None) -> dict[str, object]:
        """A run's instants, per-build vars (PER_BUILD_VARS): as_of, the dashboard's snapshot
        instant (as_of unless compute-stats says otherwise) and the one delivery it refreshes."""
        return {"as_of": iso(as_of), "stats_at": iso(stats_at or as_of),
                "stats_delivery_id": stats_delivery_id or ""}

    def dbt_vars(self, as_of: datetime, stats_at: datetime | None = None,
                 stats_delivery_id: str | None = None) -> dict[str, object]:
        """Every var of a run at ``as_of``, in one dict: for a dbt run by hand
        (`sendlens config --dbt-vars`)."""
        return {**self.model_vars(), **self.instant_vars(as_of, stats_at, stats_delivery_id)}

    def effective(self) -> list[tuple[str, object, str, str]]:
        """(name, value, where it came from, what it means) for every setting."""
        return [(f.name, getattr(self, f.name), self.sources.get(f.name, "default"), f.metadata["doc"])
                for f in setting_fields()]


def setting_fields() -> list[Field]:
    """The declared settings (every field but the home and the bookkeeping)."""
    return [f for f in fields(Settings) if f.name != "home" and not f.metadata.get("internal")]


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


def is_iana_time_zone(name: str) -> bool:
    """Is ``name`` a zone of the IANA time zone database (``Europe/Amsterdam``, ``UTC``), as
    spelled there (case included)? Checked against the database's list of zones, so that a
    file path or a POSIX TZ string, which ZoneInfo or an engine might also read, is refused."""
    from zoneinfo import available_timezones

    return name in available_timezones()


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


ENV_PREFIX = "SENDLENS_"
URL_CHARS = ("?", "#")  # dbt-duckdb parses the database path with urlparse


def load_settings(home: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """The settings of a home: defaults, then ``<home>/sendlens.toml``, then ``SENDLENS_<NAME>``
    environment variables (``SENDLENS_THREADS=2``). Every value is checked against its
    setting's type and bounds; a bad one is an error naming where it came from, the key and
    the value."""
    env = os.environ if environ is None else environ
    root = Path(home or env.get("SENDLENS_HOME") or DEFAULT_HOME).expanduser().resolve()
    if any(c in str(root) for c in URL_CHARS):
        raise ValueError(f"the home {str(root)!r} has a '?' or '#' in its path: dbt-duckdb reads the "
                         "warehouse's path as a URL (a '?' starts its options), so such a home cannot "
                         "hold a warehouse; choose another folder")
    settings = Settings(home=root)
    declared = {f.name: f for f in setting_fields()}
    cfg = root / "sendlens.toml"
    if cfg.is_file():
        try:
            data = tomllib.loads(cfg.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{cfg}: not valid TOML: {exc}") from None
        for key, value in data.items():
            if key not in declared:
                raise ValueError(f"{cfg}: unknown setting {key!r} (`sendlens config` lists them)")
            setattr(settings, key, _checked(str(cfg), declared[key], value))
            settings.sources[key] = str(cfg)
    for name, f in declared.items():
        text = env.get(ENV_PREFIX + name.upper())
        if text is not None:
            where = f"environment variable {ENV_PREFIX + name.upper()}"
            setattr(settings, name, _checked(where, f, _from_env(where, f, text)))
            settings.sources[name] = "environment"
    return settings


def _kind(f: Field) -> str:
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return "tuple" if t.startswith("tuple") else t


def _from_env(where: str, f: Field, text: str) -> object:
    """An environment variable's text as the setting's type would be written in TOML."""
    kind = _kind(f)
    try:
        if kind == "bool":
            low = text.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "tuple":
            value = json.loads(text) if text.lstrip().startswith("[") else [v.strip() for v in text.split(",") if v.strip()]
            return value
    except ValueError:
        raise ValueError(f"{where}: {f.name} must be {_expected(kind)}, not {text!r}") from None
    return text


def _expected(kind: str) -> str:
    return {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "text",
            "tuple": "a list of text values"}.get(kind, kind)


def _checked(where: str, f: Field, value: object) -> object:
    """``value`` checked against the setting's type, bounds and pattern, or an error naming
    ``where`` it came from, the key and the value: named when the settings load, not later
    inside dbt."""
    kind = _kind(f)
    meta = f.metadata

    def bad(expected: str) -> ValueError:
        return ValueError(f"{where}: {f.name} must be {expected}, not {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind in ("int", "float"):
        ok = isinstance(value, int) if kind == "int" else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or value != value or value in (float("inf"), float("-inf")):
            raise bad(_expected(kind))
        lo, hi = meta["lo"], meta["hi"]
        if lo is not None and (value < lo or (meta["lo_open"] and value == lo)):
            raise bad(f"{'more than' if meta['lo_open'] else 'at least'} {lo:g}")
        if hi is not None and value > hi:
            raise bad(f"at most {hi:g}")
        return float(value) if kind == "float" else value
    if kind == "str":
        if not isinstance(value, str):
            raise bad("text")
        if meta["pattern"] and not re.fullmatch(meta["pattern"], value.strip()):
            raise bad("a size such as 8GB or 512MiB")
        if f.name == "earliest_timestamp":
            try:
                parse_timestamp(value)
            except ValueError as exc:
                raise ValueError(f"{where}: {f.name}: {exc}") from None
        if f.name == "reporting_time_zone" and not is_iana_time_zone(value):
            raise bad("an IANA time zone such as UTC or Europe/Amsterdam")
        return value
    if kind == "tuple":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad("a list of text values")
        return tuple(value)
    raise bad(kind)  # pragma: no cover - every declared setting has one of the kinds above
