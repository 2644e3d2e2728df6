"""A second process for the data-quality suites.

great-expectations validates pandas frames holding the GIL, so on a 2-core machine the suites
of a full build run on one core unless a second process takes some of them. ``SuiteHelper``
starts that process ahead of time (``python -m expectations.helper``: a fresh interpreter,
nothing inherited from a process that runs DuckDB threads, and no re-import of the caller's
main module as multiprocessing's spawn would do), talking over a socket pair. It imports
great-expectations while the caller goes on (a build: while dbt runs), then opens the built
warehouse read-only and runs the suites it is handed, one at a time, returning each
``CheckResult``. ``validate_warehouse(helper=...)`` hands them out.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sendlens.expectations.runner import CheckResult, SuiteJob

PROJECT_DIR = Path(__file__).resolve().parents[1]


class HelperFailed(Exception):
    """The helper process is gone or could not run a suite."""


class SuiteHelper:
    """A helper process; use as a context manager (it is stopped on exit)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_DIR), env.get("PYTHONPATH")) if p)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "sendlens.expectations.helper", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self.ran: list[str] = []  # the suites this helper validated, in order
        self._closed = False

    def __enter__(self) -> SuiteHelper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ask(self, message: tuple) -> Any:
        try:
            self._conn.send(message)
            status, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise HelperFailed(f"the suites' helper process stopped: {exc!r}") from None
        if status != "ok":
            raise HelperFailed(value)
        return value

    def open(self, job: SuiteJob) -> None:
        """Open the warehouse and build the suites (once per validation)."""
        self._ask(("open", job))

    def release(self) -> None:
        """Close the warehouse (its read lock would stop the build from publishing)."""
        self._ask(("release", None))

    def run(self, suite: str) -> CheckResult:
        result = self._ask(("run", suite))
        self.ran.append(suite)
        return result

    @property
    def pid(self) -> int:
        return self._process.pid

    def kill(self) -> None:
        """Stop the process at once (tests use it to show the caller finishes alone)."""
        self._process.kill()
        self._process.wait()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.send(("stop", None))
        except (OSError, ValueError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._conn.close()


def _serve(conn: Connection) -> None:
    from sendlens.expectations.runner import SuiteSession, preload

    try:
        preload()
    except Exception:  # reported when a suite runs
        pass
    session: SuiteSession | None = None
    try:
        while True:
            try:
                kind, value = conn.recv()
            except EOFError:
                return
            if kind == "stop":
                return
            try:
                if kind == "open":
                    if session is not None:
                        session.close()
                    session = SuiteSession(value)
                    conn.send(("ok", None))
                elif kind == "release":
                    if session is not None:
                        session.close()
                        session = None
                    conn.send(("ok", None))
                elif kind == "run" and session is not None:
                    conn.send(("ok", session.run(value)))
                else:
                    conn.send(("error", f"unexpected request {kind!r}"))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if session is not None:
            session.close()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
