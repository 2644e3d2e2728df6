"""The library behind the CLI: ingest, build, compute-stats, export, run, demo.

Data moves one way: files -> lake (ingest) -> dbt on DuckDB (build) -> checks -> published
warehouse -> exports. Each function takes ``Settings`` and returns a small result; the CLI
only parses arguments and prints. Each command lives in its own module under
sendlens/commands/; this module is their one front door (the CLI and the tests call it).
"""

from __future__ import annotations

from sendlens.commands.build import DBT_BUILD_EXCLUDE, ENGINES, BuildResult, build
from sendlens.commands.docs import docs
from sendlens.commands.export import PSEUDONYM_KEY, export, pseudonym_key
from sendlens.commands.home import Progress, connect, init_home
from sendlens.commands.ingest import ingest
from sendlens.commands.run import INGEST_ORDER, demo, generate, run
from sendlens.commands.stats import STATS_SUITES, compute_stats
from sendlens.errors import ChecksFailed, SendlensError

__all__ = [
    "DBT_BUILD_EXCLUDE", "ENGINES", "INGEST_ORDER", "PSEUDONYM_KEY", "STATS_SUITES", "BuildResult",
    "ChecksFailed", "Progress", "SendlensError", "build", "compute_stats", "connect", "demo",
    "docs", "export", "generate", "ingest", "init_home", "pseudonym_key", "run",
]
