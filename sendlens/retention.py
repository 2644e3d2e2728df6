"""Retention for scheduled runs: what `sendlens run` keeps under the home (settings
``keep_exports``, ``keep_logs``, ``keep_archive``; 0 keeps everything).

- exports: the newest ``keep_exports`` run folders ``<home>/exports/run-*`` stay, and always the
  newest one, which the run that just published wrote. An older folder loses exactly what that
  export wrote (``reports.export.remove_export``: the files its manifest lists); a file someone
  added stays, and so does its folder then;
- logs: run logs ``<home>/logs/run-*.log`` older than ``keep_logs`` days are removed;
- archive: the landed inbox files of a run, ``<home>/archive/run-*/``, older than
  ``keep_archive`` days are removed (their rows are in the lake).

Only names sendlens gives (``run-<timestamp>``) are ever touched, and never through a link.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from sendlens.config import Settings
from sendlens.reports.export import remove_export


@dataclass
class Pruned:
    exports: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    archives: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return (f"retention: removed {len(self.exports)} old export folder(s), {len(self.logs)} log(s), "
                f"{len(self.archives)} archive folder(s)")


def prune(settings: Settings, now: float | None = None) -> Pruned:
    """Apply the three retention settings to the home; returns what was removed."""
    now = time.time() if now is None else now
    done = Pruned()
    if settings.keep_exports > 0:
        runs = _runs(settings.exports, dirs=True)
        for folder in runs[:-max(1, settings.keep_exports)]:
            if remove_export(folder):
                done.exports.append(folder)
    if settings.keep_logs > 0:
        for log in _runs(settings.logs, dirs=False):
            if log.suffix == ".log" and now - log.stat().st_mtime > settings.keep_logs * 86400:
                log.unlink()
                done.logs.append(log)
    if settings.keep_archive > 0:
        for folder in _runs(settings.archive, dirs=True):
            if now - _newest_mtime(folder) > settings.keep_archive * 86400:
                shutil.rmtree(folder)
                done.archives.append(folder)
    return done


def _runs(parent: Path, dirs: bool) -> list[Path]:
    """The ``run-*`` entries of ``parent`` (folders or files, never links), oldest first (run
    ids sort by time)."""
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir()
                  if p.name.startswith("run-") and not p.is_symlink() and (p.is_dir() if dirs else p.is_file()))


def _newest_mtime(folder: Path) -> float:
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*") if not p.is_symlink()])
