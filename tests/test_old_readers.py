"""The warehouse opens in the DuckDB readers analysts have (issue 22): a published warehouse,
read-only, with the oldest supported DuckDB (the 1.4 long-term support line; `make old-reader`
installs it in .venv-reader, and `make test` does that first), answers the same counts on every
public mart as the Python package that built it, and shows the column comments."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from sendlens.core.sql import identifier
from tests.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
READER = ROOT / ".venv-reader" / "bin" / "python"
OLDEST = next(line.split(":=")[1].strip() for line in (ROOT / "Makefile").read_text().splitlines()
              if line.startswith("OLDEST_READER"))

# the reader runs the queries it is given (written here, with the one quoting helper)
PROBE = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
queries = json.loads(sys.argv[2])
print(json.dumps({"version": duckdb.__version__,
                  "answers": {name: con.execute(sql).fetchall() for name, sql in queries.items()}}))
"""
COMMENTED = ("select count(*) from duckdb_columns() where schema_name = 'marts' and comment is not null")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    s = Scenario(tmp_path_factory.mktemp("old-readers") / "home")
    s.ingest("deliveries", [{"delivery_id": "d1", "label": "January", "channel": "email",
                             "contact_date": "2026-01-05 08:00", "efs_enabled": "true"}])
    s.ingest("send_log", [{"message_id": f"m{i}", "delivery_id": "d1", "profile_id": f"p{i}",
                           "address": f"a{i}@example.com", "relayed_at": "2026-01-05 08:00"} for i in range(3)])
    s.ingest("feedback", [{"event_id": "f1", "message_id": "m1", "event_at": "2026-01-05 08:30",
                           "outcome": "hard_bounce", "failure_reason": "user unknown"}])
    s.ingest("tracking", [{"event_id": "t1", "message_id": "m0", "event_at": "2026-01-05 09:00", "type": "open"}])
    s.build("2026-01-10T00:00:00Z")
    return s.settings.warehouse


def test_the_oldest_supported_reader_opens_the_published_warehouse(warehouse):
    assert READER.is_file(), f"{READER} is missing: run `make old-reader` (make test does)"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1").fetchall()]
        queries = {t: f"select count(*) from marts.{identifier(t)}" for t in tables}
        queries["(commented columns)"] = COMMENTED
        answers = {name: [list(row) for row in con.execute(sql).fetchall()] for name, sql in queries.items()}
    finally:
        con.close()
    probe = subprocess.run([str(READER), "-c", PROBE, str(warehouse), json.dumps(queries)],
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    old = json.loads(probe.stdout)
    assert old["version"] == OLDEST
    assert len(tables) >= 15 and answers["fct_message_status"] == [[6]]
    assert old["answers"] == answers
    assert answers["(commented columns)"][0][0] > 200
