"""The wheel works on its own: built from the repository, installed outside it, and run in an
empty folder (the dbt project travels as package data, setup.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _source_tree(target: Path) -> Path:
    """The repository's files that git sees (links kept as links), without a build/ folder an earlier
    in-tree build may have left: the wheel is built from what a clone has."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"], check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src, dst = ROOT / name, target / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree, not yet committed
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
    return target


@pytest.mark.slow
def test_an_installed_wheel_runs_the_demo_in_an_empty_folder(tmp_path):
    wheels = tmp_path / "wheels"
    source = _source_tree(tmp_path / "source")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    [wheel] = wheels.glob("sendlens-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sendlens/project/dbt_project.yml" in names and "sendlens/project/profiles.yml" in names
    assert any(n.startswith("sendlens/project/models/marts/") and n.endswith(".sql") for n in names)
    assert "sendlens/expectations/suites/fct_message_status.json" in names
    assert "sendlens/expectations/templates/data_docs.html.j2" in names
    assert any(n.startswith("sendlens/reports/templates/") and n.endswith(".j2") for n in names)
    # one top-level package: nothing that can clash in site-packages (ingest, reports, ...)
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"sendlens"}

    site = tmp_path / "site"  # installed apart from the repository; the dependencies are the venv's
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("SENDLENS_HOME", None)
    where = subprocess.run([sys.executable, "-c", "import sendlens, sendlens.config as c; "
                            "print(sendlens.__file__); print(c.PROJECT_DIR)"],
                           env=env, cwd=empty, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(site)) and where[1] == str(site / "sendlens" / "project")
    r = subprocess.run([sys.executable, "-m", "sendlens", "demo", "--messages", "400"],
                       env=env, cwd=empty, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    # what the demo prints: one line per step with its duration, dbt in one line, the result
    steps = r.stderr.strip().splitlines()
    for start in ("ingest: 6 files, ", "dbt build: ", "checks: ", "published ", "exported "):
        [line] = [ln for ln in steps if ln.startswith(start)]
        assert re.search(r"\(\d+\.\d s\)$", line), line
    assert not [ln for ln in steps if re.match(r"\d+ of \d+ ", ln)]
    assert r.stdout.startswith("demo finished in ") and "open it read-only: duckdb -readonly " in r.stdout
    assert (empty / "sendlens-home" / "warehouse" / "sendlens.duckdb").is_file()
    assert list((empty / "sendlens-home" / "exports").glob("*/report.html"))
    assert not (site / "sendlens" / "project" / "target").exists()  # dbt wrote into the home only
