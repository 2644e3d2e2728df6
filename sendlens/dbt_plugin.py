"""The dbt-duckdb plugin named in profiles.yml: before dbt opens the build's database, wait
until sendlens's copy of the published warehouse is in place (sendlens/dbt_wait.py). Loaded
only in dbt's own process, the one place dbt-duckdb's classes are imported for it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from sendlens.dbt_wait import WAIT_ENV, wait_for_copy


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        target = os.environ.get(WAIT_ENV)
        if target:
            wait_for_copy(Path(target))
