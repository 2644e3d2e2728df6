"""Packaging glue: the wheel carries the dbt project (dbt_project.yml, profiles.yml, models/,
macros/, seeds/, and the singular tests of its test-paths, tests/dbt/) as package data under
``sendlens/project/``, so an installed sendlens runs, and tests, without the repository
(sendlens.config.PROJECT_DIR finds it there). Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROJECT_FILES = ("dbt_project.yml", "profiles.yml")
# tests/dbt: dbt_project.yml test-paths, the singular tests every build runs
PROJECT_DIRS = ("models", "macros", "seeds", "tests/dbt")


class BuildWithProject(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the project from the repository
            return
        target = Path(self.build_lib) / "sendlens" / "project"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in PROJECT_FILES:
            shutil.copy2(ROOT / name, target / name)
        for name in PROJECT_DIRS:
            shutil.copytree(ROOT / name, target / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithProject})
