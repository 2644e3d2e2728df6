"""The import direction, as import-linter contracts in pyproject.toml (README, Architecture)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    command = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    r = subprocess.run([*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


PACKAGES = ("ingest", "expectations", "reports")


def test_the_top_level_folders_are_sendlens_subpackages():
    """ingest/, expectations/ and reports/ stay where the design puts them and are imported as
    sendlens.ingest, sendlens.expectations and sendlens.reports (links in sendlens/), so an
    installed sendlens adds one top-level package to site-packages."""
    for name in PACKAGES:
        link = ROOT / "sendlens" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve(), link
        assert (ROOT / name / "__init__.py").is_file()


def test_nothing_imports_the_bare_top_level_names():
    """One name per module: importing `ingest` beside `sendlens.ingest` would load it twice."""
    offenders = []
    for folder in ("sendlens", *PACKAGES, "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            if any(part in PACKAGES for part in path.relative_to(ROOT).parts[1:2]) and folder == "sendlens":
                continue  # the links: their files are scanned under their own folders
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                         else [])
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names
                              if n.split(".")[0] in PACKAGES]
    assert offenders == []
