"""One writer at a time per home: an advisory file lock (released by the OS if killed)."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sendlens.errors import Busy

__all__ = ["Busy", "home_lock"]


_COMMANDS = ("ingest", "build", "compute-stats", "export", "run", "batches", "config", "generate", "demo", "docs")


def _command() -> str:
    """What holds the lock, as a person would recognise it: `sendlens run`, `sendlens build`."""
    words = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"]
    words += [a for a in sys.argv[1:] if a in _COMMANDS][:1]
    if words[0] in ("__main__.py", "-m"):
        words[0] = "sendlens"
    return " ".join(words)[:80]


@contextmanager
def home_lock(path: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                    raise Busy(
                        f"another sendlens command is running on this home ({holder or 'unknown'}); "
                        f"lock file {path}"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({_command()}) since "
                      f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}".encode(), 0)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
