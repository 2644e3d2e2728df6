"""Parsed user agents: a derived table of the lake, every distinct user agent of the landed
tracking events parsed once by ua-parser (``from ua_parser import parse``).

The dbt models run on DuckDB and on Spark, so no model can call Python; the application runs
:func:`refresh` before every build instead (sendlens/commands/build.py, both engines). It reads
the distinct ``user_agent`` values of the tracking Parquet (canonical batches and ESP exports),
leaves out those already parsed, parses the new ones (a Python loop over the *distinct* agents:
a few hundred or thousand, not one per event; ua-parser's default parser caches its results)
and writes them as one new Parquet file under ``<lake>/derived/user_agents/``, written under
``_tmp`` and renamed into place (a crash leaves no half-written file). A schema-only
``part-0-empty.parquet`` keeps the folder readable on both engines before the first agent (a
lake from before this table gets it on its next build). models/staging/stg_user_agents.sql
reads the folder; marts.rpt_opens_by_client joins it to the tracking events.

An agent is parsed once: a later ua-parser (``parser_version`` says which one parsed a row)
does not re-parse it (see DECISIONS.md, "Opens by client").

The folder is not a landing kind: it holds no ``batch_id=`` folder, so the lake's batch
listings (``Lake.landed_batches``, ``sendlens batches``) and the incremental plan never see it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from ua_parser import parse

from sendlens.core.files import fsync_path
from sendlens.core.sql import glob_literal
from sendlens.ingest.lake import ESP_DIR, Lake

DERIVED_DIR = "derived"
TABLE = "user_agents"
EMPTY_FILE = "part-0-empty.parquet"

COLUMNS = (
    ("user_agent", pa.string()),
    ("client_family", pa.string()),
    ("ua_family", pa.string()),
    ("os_family", pa.string()),
    ("device_family", pa.string()),
    ("device_class", pa.string()),
    ("parser_version", pa.string()),
)
SCHEMA = pa.schema(list(COLUMNS))

DEVICE_CLASSES = ("desktop", "mobile", "tablet", "other")

# ua-parser names browsers; a few of its families are, in an email's open pixel, an email
# client or a mailbox provider's image proxy. Every other family is kept as ua-parser names it.
CLIENT_FAMILIES = {
    "GmailImageProxy": "Gmail",
    "YahooMailProxy": "Yahoo Mail",
    # iOS Mail renders with a bare WKWebView: no Safari/ token (Safari itself has one)
    "Mobile Safari UI/WKWebView": "Apple Mail",
}
# image proxies fetch for every device: the reader's device is unknown
PROXY_FAMILIES = frozenset({"GmailImageProxy", "YahooMailProxy"})
MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Tizen",
                       "Symbian OS", "Firefox OS", "HarmonyOS"})
DESKTOP_OS = frozenset({"Windows", "Mac OS X", "Linux", "Ubuntu", "Debian", "Fedora", "Red Hat",
                        "Chrome OS", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"})


def device_class(ua_family: str, os_family: str, device_family: str, device_brand: str) -> str:
    """The device class of one parsed agent, from ua-parser's results (``Other`` when it
    recognised nothing): an image proxy or a bot is ``other``; an iPad, an Android tablet (no
    "Mobile" token: ua-parser's brand ``Generic_Android_Tablet``), a Kindle or a device ua-parser
    calls a tablet is ``tablet``; any other device of a phone OS (iPhone, iPod, Android phones)
    is ``mobile``; Windows, macOS, Linux and the BSDs are ``desktop``; anything else ``other``."""
    if ua_family in PROXY_FAMILIES or device_family == "Spider":
        return "other"
    if (device_family == "iPad" or device_brand == "Generic_Android_Tablet"
            or device_family.startswith("Kindle") or "tablet" in device_family.lower()):
        return "tablet"
    if os_family in MOBILE_OS:
        return "mobile"
    if os_family in DESKTOP_OS:
        return "desktop"
    return "other"


@dataclass
class Refreshed:
    parsed: int          # agents parsed by this refresh (0: nothing new)
    file: Path | None    # the file it wrote, if any


def parser_version() -> str:
    """Which ua-parser (and which of its regular-expression releases) parsed a row."""
    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"
    return f"ua-parser {of('ua-parser')}; regexes {of('ua-parser-builtins')}"


def parse_agent(user_agent: str, parsed_by: str) -> dict[str, str]:
    """One row of the derived table: ua-parser's result, its client family and device class."""
    result = parse(user_agent).with_defaults()
    ua_family, os_family = result.user_agent.family, result.os.family
    device = result.device
    return {
        "user_agent": user_agent,
        "client_family": CLIENT_FAMILIES.get(ua_family, ua_family),
        "ua_family": ua_family,
        "os_family": os_family,
        "device_family": device.family,
        "device_class": device_class(ua_family, os_family, device.family, device.brand or ""),
        "parser_version": parsed_by,
    }


def folder(lake: Lake) -> Path:
    return lake.root / DERIVED_DIR / TABLE


def files_glob_sql(lake: Lake) -> str:
    """The derived table's files, as an SQL literal for DuckDB's reader."""
    return glob_literal(folder(lake), "/*.parquet")


def _tracking_sql(lake: Lake) -> str:
    canonical = glob_literal(lake.root, "/tracking/batch_id=*/data/*.parquet")
    esp = glob_literal(lake.root, f"/{ESP_DIR}/batch_id=*/tracking/*.parquet")
    return f"read_parquet([{canonical}, {esp}], hive_partitioning = false, union_by_name = true)"


def _place(lake: Lake, table: pa.Table, name: str) -> Path:
    """Write ``table`` as ``name`` under the derived folder: under ``_tmp``, then renamed."""
    scratch = lake.scratch_dir(f"user-agents-{uuid.uuid4().hex}")
    scratch.mkdir(parents=True)
    written = scratch / name
    pq.write_table(table, written, compression="zstd")
    fsync_path(written)
    target = folder(lake) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(written, target)
    fsync_path(target.parent)
    os.rmdir(scratch)
    return target


def ensure(lake: Lake) -> None:
    """The schema-only file, so the folder is readable before the first agent (idempotent)."""
    if not (folder(lake) / EMPTY_FILE).exists():
        _place(lake, SCHEMA.empty_table(), EMPTY_FILE)


def new_agents(con: duckdb.DuckDBPyConnection, lake: Lake) -> list[str]:
    """The distinct user agents of the landed tracking events that no file parsed yet."""
    rows = con.execute(
        "with landed as ("
        f"    select distinct user_agent from {_tracking_sql(lake)} where user_agent is not null"
        "), parsed as ("
        f"    select user_agent from read_parquet({files_glob_sql(lake)}, union_by_name = true)"
        ") "
        "select user_agent from landed "
        "where not exists (select 1 from parsed where parsed.user_agent = landed.user_agent) "
        "order by user_agent"
    ).fetchall()
    return [r[0] for r in rows]


def refresh(con: duckdb.DuckDBPyConnection, lake: Lake) -> Refreshed:
    """Parse the user agents landed since the last refresh into one new file of the derived
    table. Only the holder of the home lock calls it (no two refreshes write at once)."""
    ensure(lake)
    agents = new_agents(con, lake)
    if not agents:
        return Refreshed(0, None)
    parsed_by = parser_version()
    rows = [parse_agent(agent, parsed_by) for agent in agents]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    return Refreshed(len(rows), _place(lake, table, f"part-{stamp}-{uuid.uuid4().hex[:8]}.parquet"))


def parsed_count(con: duckdb.DuckDBPyConnection, lake: Lake) -> int:
    """Rows of the derived table (every agent parsed so far)."""
    return con.execute(f"select count(*) from read_parquet({files_glob_sql(lake)}, "
                       "union_by_name = true)").fetchone()[0]


__all__ = ["refresh", "ensure", "new_agents", "parse_agent", "device_class", "parser_version",
           "parsed_count", "folder", "Refreshed", "DEVICE_CLASSES"]
