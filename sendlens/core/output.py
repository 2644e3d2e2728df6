"""What an operator reads: sendlens's lines go through Python ``logging`` (logger ``sendlens``).

- INFO: one line per step with its duration, and the summaries (the default);
- DEBUG: the detail under them, every dbt node among it (``--verbose``);
- WARNING: what a person should look at even in a quiet run (``--quiet`` shows only these and
  errors): a dbt test that warned, a stale feed.

The CLI configures the handler (``configure``); the library only logs. A long step shows a
progress bar when a person watches a terminal at the default level; under cron (no
terminal), with ``--quiet`` or ``--verbose`` it shows none, and the lines stay plain.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

LOG = logging.getLogger("sendlens")
LEVELS = {"quiet": logging.WARNING, "normal": logging.INFO, "verbose": logging.DEBUG}


class _Plain(logging.Formatter):
    """A step line as it is; a warning prefixed ``sendlens: warning:``."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"sendlens: error: {text}"
        if record.levelno >= logging.WARNING:
            return f"sendlens: warning: {text}"
        return text


def configure(verbosity: str = "normal", stream: IO[str] | None = None) -> None:
    """Send sendlens's lines at ``verbosity`` (quiet, normal, verbose) to ``stream`` (stderr).
    The logger itself passes everything: each handler keeps its own threshold."""
    for handler in [h for h in LOG.handlers if isinstance(h, _Console)]:
        LOG.removeHandler(handler)
    handler = _Console(stream or sys.stderr)
    handler.setFormatter(_Plain())
    handler.setLevel(LEVELS[verbosity])
    LOG.addHandler(handler)
    LOG.setLevel(logging.DEBUG)
    LOG.propagate = False


class _Console(logging.StreamHandler):
    """The terminal (or cron's mail): the handler ``configure`` installs."""


def step(msg: str) -> None:
    """A step line (INFO): the CLI's progress callback."""
    LOG.info(msg)


class FileLog:
    """Everything sendlens logs (DEBUG and up), also written to ``path``, timestamped, while in
    the block: the log file of a scheduled run."""

    def __init__(self, path) -> None:
        self.path = path
        self.handler: logging.Handler | None = None
        self._level = LOG.level

    def __enter__(self) -> "FileLog":
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.handler.setLevel(logging.DEBUG)
        self._level = LOG.level
        LOG.setLevel(logging.DEBUG)  # handlers keep their own thresholds
        LOG.addHandler(self.handler)
        return self

    def __exit__(self, *exc) -> None:
        assert self.handler is not None
        LOG.removeHandler(self.handler)
        self.handler.close()
        LOG.setLevel(self._level)


class NodeBar:
    """A progress bar over dbt's nodes, shown only when the console is a terminal at the
    default level (never under cron, --quiet or --verbose)."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        consoles = [h for h in LOG.handlers if isinstance(h, _Console)]
        self.stream = consoles[0].stream if consoles else None
        self.enabled = bool(consoles) and consoles[0].level == logging.INFO and _is_terminal(self.stream)
        self._bar = None

    def update(self, index: int | None, total: int | None) -> None:
        if not self.enabled or not total:
            return
        done = min(int(index or 0), int(total))
        filled = done * 30 // int(total)
        self._bar = f"\r{self.desc}: [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} nodes"
        self.stream.write(self._bar)
        self.stream.flush()

    def close(self) -> None:
        """Wipe the bar: the step's summary line takes its place."""
        if self._bar is not None:
            self.stream.write("\r" + " " * len(self._bar) + "\r")
            self.stream.flush()
            self._bar = None


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
