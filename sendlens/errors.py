"""Every error a user sees, each with its exit status: the CLI catches ``SendlensError`` once
and exits with ``exit_code`` (README, "Exit status")."""

from __future__ import annotations


class SendlensError(Exception):
    """A user-facing failure: one clear message on stderr, exit status 1."""

    exit_code = 1


class ChecksFailed(SendlensError):
    """A build's or compute-stats' gate failed; nothing was published."""


class Busy(SendlensError):
    """Another sendlens command holds the home's lock (status 75, EX_TEMPFAIL: try later)."""

    exit_code = 75
