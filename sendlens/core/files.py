"""Durable files: fsync a file or a folder's entries, fsync a whole tree, and write a small
file whole (readers see all of it or none). The lake, publishing and the markers use these."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Write a file's (or a folder's entries') dirty pages to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file and folder under ``path`` (a batch before it is renamed into place)."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def write_whole(path: Path, text: str) -> None:
    """Write a small file under another name, then rename it over ``path``."""
    written = path.with_name(path.name + ".tmp")
    with open(written, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(written, path)
    fsync_path(path.parent)


__all__ = ["fsync_path", "fsync_tree", "write_whole"]
