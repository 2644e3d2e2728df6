"""`sendlens docs`: dbt's static documentation site of the published warehouse (every model,
column description, test, source and exposure, with the lineage graph) in one HTML file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from sendlens.commands.home import Progress, published, quiet
from sendlens.config import Settings
from sendlens.dbt_runner import DbtFailed, run_dbt, work_dir
from sendlens.errors import SendlensError
from sendlens.lock import home_lock

DOCS_FOLDER = "docs"
DOCS_WORK = "dbt-docs"  # dbt's target of this command, apart from the builds' (their manifest stays theirs)


def docs(settings: Settings, out: Path | None = None, progress: Progress = quiet) -> Path:
    """Write ``index.html`` (dbt docs generate --static: the site with its manifest and
    catalog inside, opened straight from disk), ``manifest.json`` and ``catalog.json`` into
    ``out`` (default ``<home>/exports/docs``). The catalog is read from the published warehouse,
    opened read-only (analysts' connections stay)."""
    started = time.monotonic()
    out_dir = Path(out) if out else settings.exports / DOCS_FOLDER
    with home_lock(settings.lock_file, wait_seconds=600):  # not while a build replaces the warehouse
        warehouse = published(settings)
        env = {"SENDLENS_DBT_ACCESS_MODE": "read_only"}
        try:
            # the parse writes the manifest that --static embeds (--no-compile writes none)
            run_dbt(settings, warehouse, ["parse"], extra_env=env, work_folder=DOCS_WORK)
            run_dbt(settings, warehouse, ["docs", "generate", "--static", "--no-compile"],
                    extra_env=env, work_folder=DOCS_WORK)
        except DbtFailed as exc:
            raise SendlensError(f"could not write the documentation site\n{exc}") from None
    target = work_dir(settings, DOCS_WORK) / "target"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, as_name in (("static_index.html", "index.html"), ("manifest.json", "manifest.json"),
                          ("catalog.json", "catalog.json")):
        tmp = out_dir / f".{as_name}.tmp"
        shutil.copyfile(target / name, tmp)
        tmp.replace(out_dir / as_name)
    page = out_dir / "index.html"
    progress(f"docs: dbt's documentation site of {warehouse.name} in {page} "
             f"({time.monotonic() - started:.1f} s)")
    return page
