"""Hostile and broken input on the ingest side (issue 17): every class fixed at its root.

A. names and values spliced into SQL (glob characters and quotes in file, folder and column
   names; quotes in values); B. input columns named like internal ones; C. poison values that
   pass ingest and block every later build (range rules, ``ingest.contracts.Bounds``);
D. file-level errors that name the wrong line or no reason; E. bad input accepted silently;
F. deeply nested provider JSON and broken provider files.

Every test ingests real files through the real pipeline (or ``ingest_file`` / ``ingest_export``
with a real DuckDB connection when it passes ``Bounds``) and reads the lake with DuckDB; no build.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sendlens import pipeline
from sendlens.config import load_settings

FEEDBACK_HEADER = "event_id,message_id,event_at,outcome,attempt"


# ---- helpers ------------------------------------------------------------------------------
def _esc(path: Path) -> str:
    """A lake path as a DuckDB glob literal (the test homes may hold glob characters)."""
    text = str(path).replace("'", "''")
    return "'" + "".join(f"[{c}]" if c in "[*?" else c for c in text) + "'"


def _read(settings, kind: str, what: str, where: str = "") -> list[dict]:
    con = duckdb.connect()
    try:
        cur = con.execute(
            f"select * from read_parquet({_esc(settings.lake / kind)} || '/batch_id=*/' || {what!r}, "
            f"hive_partitioning = false, union_by_name = true) {where}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def lake_rows(settings, kind: str) -> list[dict]:
    return sorted(_read(settings, kind, "data/*.parquet"), key=lambda r: (r["_batch_id"], r["_row"]))


def rejected(settings, kind: str) -> dict[int, tuple[str, str]]:
    return {r["row_number"]: (r["field"], r["reason"]) for r in _read(settings, kind, "rejected.parquet")}


def rejected_raw(settings, kind: str) -> dict[int, str]:
    return {r["row_number"]: r["raw_record"] for r in _read(settings, kind, "rejected.parquet")}


def assert_reconciles(settings, kind: str, outcome) -> None:
    """rows_read = landed + rejected, and the lake holds exactly the landed and rejected rows."""
    assert outcome.rows_read == outcome.rows_landed + outcome.rows_rejected
    data = [r for r in lake_rows(settings, kind) if r["_batch_id"] == outcome.batch_id]
    rej = _read(settings, kind, "rejected.parquet", f"where batch_id = '{outcome.batch_id}'")
    batch = _read(settings, kind, "batch.parquet", f"where batch_id = '{outcome.batch_id}'")
    assert len(data) == outcome.rows_landed and len(rej) == outcome.rows_rejected
    assert [(b["rows_read"], b["rows_landed"], b["rows_rejected"]) for b in batch] == [
        (outcome.rows_read, outcome.rows_landed, outcome.rows_rejected)]
    assert len({r["_row"] for r in data} | {r["row_number"] for r in rej}) == outcome.rows_read


def ingest(settings, kind: str, path: Path):
    [o] = pipeline.ingest(settings, kind, [path])
    assert_reconciles(settings, kind, o)
    return o


def _op(name: str) -> str:
    return f"operator,roles\n{name},workflow\n"


@pytest.fixture
def settings(tmp_path):
    return load_settings(tmp_path / "home")


# ---- A. values spliced into SQL -----------------------------------------------------------
def test_glob_characters_and_quotes_in_file_and_folder_names_read_only_that_file(tmp_path, settings):
    plain, hostile_dir, decoy_dir = tmp_path / "in", tmp_path / "in[1] it's", tmp_path / "in1 it's"
    for d in (plain, hostile_dir, decoy_dir):
        d.mkdir()
    for decoy in ("a1.csv", "starX.csv", "q1.csv"):  # what the hostile names match as globs
        (plain / decoy).write_text(_op("decoy-" + decoy))
    (decoy_dir / "ops.csv").write_text(_op("decoy-folder"))  # what "in[1] it's/ops.csv" matches
    files = [plain / n for n in ("a[1].csv", "star*.csv", "q?.csv", "it's.csv", "it''s [x]-*.csv")]
    files.append(hostile_dir / "ops.csv")
    for f in files:
        f.write_text(_op(f.parent.name + "/" + f.name))
    for f in files:
        o = ingest(settings, "operators", f)
        assert (o.rows_read, o.rows_landed) == (1, 1), f
        assert [r["operator"] for r in lake_rows(settings, "operators") if r["_batch_id"] == o.batch_id] == [
            f.parent.name + "/" + f.name]
    assert not any(r["operator"].startswith("decoy") for r in lake_rows(settings, "operators"))


def test_a_home_with_glob_characters_finds_its_own_batches(tmp_path):
    settings = load_settings(tmp_path / "home[1] o'k")
    f = tmp_path / "ops.csv"
    f.write_text(_op("alice"))
    first = ingest(settings, "operators", f)
    [again] = pipeline.ingest(settings, "operators", [f])  # the lake's batch glob is escaped
    assert (first.status, again.status, again.batch_id) == ("landed", "already_ingested", first.batch_id)


def test_hostile_column_names_and_values_are_quoted_not_spliced(settings, tmp_path):
    f = tmp_path / "ops.csv"
    f.write_text('operator,roles,"we""ird",it\'s,sp ace,"x"") from raw; --"\n'
                 '"o\'brien ""the"" --; drop",workflow,1,2,3,4\n'
                 ',workflow,5,6,7,8\n')
    o = ingest(settings, "operators", f)
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (2, 1, 1)
    assert [r["operator"] for r in lake_rows(settings, "operators")] == ['o\'brien "the" --; drop']
    assert {w.split("column ", 1)[1].split(" is not")[0] for w in o.warnings} == {
        repr('we"ird'), repr("it's"), repr("sp ace"), repr('x") from raw; --')}
    # the rejected row keeps every column under the file's own name
    assert json.loads(rejected_raw(settings, "operators")[2]) == {
        "operator": None, "roles": "workflow", 'we"ird': "5", "it's": "6", "sp ace": "7", 'x") from raw; --': "8"}
    # the same names in JSON Lines and Parquet
    j = tmp_path / "ops.jsonl"
    j.write_text(json.dumps({"operator": "j'1", "roles": ["workflow"], 'we"ird': 1, "a/b~c": 2}) + "\n")
    assert ingest(settings, "operators", j).rows_landed == 1
    p = tmp_path / "ops.parquet"
    pq.write_table(pa.table({"operator": ["p'1"], "roles": [["workflow"]], 'we"ird': [1]}), p)
    assert ingest(settings, "operators", p).rows_landed == 1
    assert {r["operator"] for r in lake_rows(settings, "operators")} >= {"j'1", "p'1"}


# ---- B. input columns named like internal ones --------------------------------------------
INTERNAL = ["_row", "file_row_number", "_field", "_reason", "_batch_id", "_origin", "_raw", "c1", "_ord"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_input_columns_named_like_internal_ones_never_shadow_them(settings, tmp_path, fmt):
    rows = [
        {"event_id": "e1", "message_id": "m1", "event_at": "2026-01-05T08:00:00Z", "outcome": "delivered"},
        {"event_id": "e2", "message_id": "m1", "event_at": "2026-01-05T08:00:00Z", "outcome": "delivered"},
        {"event_id": "e3", "message_id": "m1", "event_at": "2026-01-05T08:00:00Z", "outcome": "bogus"},
        {"event_id": "e4", "message_id": "m1", "event_at": "2026-01-05T08:00:00Z", "outcome": "delivered"},
        {"event_id": "e5", "message_id": "m1", "event_at": "2026-01-05T08:00:00Z", "outcome": "delivered"},
    ]
    for r in rows:  # every internal name, with a value that would wreck row numbers or reasons
        r.update({c: "1" for c in INTERNAL})
    path = tmp_path / f"feedback.{fmt}"
    if fmt == "csv":
        cols = list(rows[0])
        path.write_text(",".join(cols) + "\n" + "".join(",".join(r[c] for c in cols) + "\n" for r in rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    o = ingest(settings, "feedback", path)
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (5, 4, 1)
    landed = lake_rows(settings, "feedback")
    assert [(r["event_id"], r["_row"], r["_origin"]) for r in landed] == [
        ("e1", 1, "canonical"), ("e2", 2, "canonical"), ("e4", 4, "canonical"), ("e5", 5, "canonical")]
    assert {r["_batch_id"] for r in landed} == {o.batch_id}
    assert rejected(settings, "feedback") == {3: ("outcome", "not one of delivered, soft_bounce, hard_bounce, expired, ignored")}
    assert sum("is not part of the feedback contract" in w for w in o.warnings) == len(INTERNAL)


# ---- C. poison values: range rules --------------------------------------------------------
def test_out_of_range_values_are_rejected_with_the_allowed_range(settings, tmp_path):
    f = tmp_path / "feedback.csv"
    f.write_text(FEEDBACK_HEADER + ",received_at\n"
                 "e1,m1,2026-01-05T08:00:00Z,delivered,1,\n"
                 "e2,m1,9999-12-31T00:00:00Z,delivered,1,\n"
                 "e3,m1,0001-01-01T00:00:00Z,delivered,1,\n"
                 "e4,m1,1999-12-31T23:59:59Z,delivered,1,\n"
                 "e5,m1,2026-01-05T08:00:00Z,soft_bounce,-1,\n"
                 "e6,m1,2026-01-05T08:00:00Z,soft_bounce,1001,\n"
                 "e7,m1,2026-01-05T08:00:00Z,delivered,1,9999-01-01\n"
                 "e8,m1,infinity,delivered,1,\n"
                 "e9,m1,2000-01-01T00:00:00Z,soft_bounce,0,\n")
    o = ingest(settings, "feedback", f)
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (9, 2, 7)
    got = rejected(settings, "feedback")
    assert {n: field for n, (field, _) in got.items()} == {
        2: "event_at", 3: "event_at", 4: "event_at", 5: "attempt", 6: "attempt", 7: "received_at", 8: "event_at"}
    for n in (2, 3, 4, 7, 8):
        assert got[n][1].startswith("out of range: must lie within [2000-01-01T00:00:00Z, "), got[n]
    assert got[5][1] == got[6][1] == "out of range: must be in [0, 1000] (an attempt counter is never negative)"
    d = tmp_path / "deliveries.csv"
    d.write_text("delivery_id,label,channel,contact_date,validity_hours,scheduled_at\n"
                 "d1,ok,email,2026-01-05 08:00,8760,\n"
                 "d2,long,email,2026-01-05 08:00,9000,\n"
                 "d3,future,email,2026-01-05 08:00,84,2999-01-01 00:00\n")
    o = ingest(settings, "deliveries", d)
    assert (o.rows_landed, o.rows_rejected) == (1, 2)
    got = rejected(settings, "deliveries")
    assert got[2] == ("validity_hours", "out of range: must be in (0, 8760] hours")
    assert got[3][0] == "scheduled_at" and "out of range" in got[3][1]


def test_bounds_are_configurable_for_canonical_and_esp_ingest(settings, tmp_path):
    from sendlens.ingest.contracts import Bounds
    from sendlens.ingest.esp import ingest_export
    from sendlens.ingest.land import ingest_file

    lake = pipeline.init_home(settings)
    con = pipeline.connect(settings)
    try:
        f = tmp_path / "feedback.csv"
        f.write_text(FEEDBACK_HEADER + "\ne1,m1,1995-06-01T00:00:00Z,soft_bounce,7\ne2,m1,1995-06-01T00:00:00Z,soft_bounce,3\n")
        o = ingest_file(con, lake, "feedback", f, bounds=Bounds(earliest_at=datetime(1990, 1, 1), max_attempt=5))
        assert (o.rows_landed, o.rows_rejected) == (1, 1)
        assert rejected(settings, "feedback") == {1: ("attempt", "out of range: must be in [0, 5] (an attempt counter is never negative)")}
        assert assert_reconciles(settings, "feedback", o) is None
        # ESP rows get the same rules: year 9999 (epoch seconds), attempt -1; 1995 only with the bounds
        events = [
            {"email": "a@x.com", "timestamp": 1772442000, "event": "processed", "category": "c", "sg_event_id": "1", "sg_message_id": "m1.f"},
            {"email": "a@x.com", "timestamp": 253402214400, "event": "delivered", "category": "c", "sg_event_id": "2", "sg_message_id": "m1.f"},
            {"email": "a@x.com", "timestamp": 1772442060, "event": "deferred", "attempt": "-1", "category": "c", "sg_event_id": "3", "sg_message_id": "m1.f"},
            {"email": "b@x.com", "timestamp": 802000000, "event": "processed", "category": "c", "sg_event_id": "4", "sg_message_id": "m2.f"},
        ]
        e = tmp_path / "sg.json"
        e.write_text(json.dumps(events))
        [o] = ingest_export(con, lake, "sendgrid", e)
        assert (o.rows_read, o.rows_landed, o.rows_rejected) == (4, 1, 3)
        got = {r["row_number"]: (r["field"], r["reason"]) for r in _read(settings, "esp", "rejected.parquet")}
        assert {n: f for n, (f, _) in got.items()} == {2: "event_at", 3: "attempt", 4: "relayed_at"}
        assert all(r.startswith("out of range") for _, r in got.values())
        e2 = tmp_path / "sg-1995.json"
        e2.write_text(json.dumps([events[3]]))
        [o] = ingest_export(con, lake, "sendgrid", e2, bounds=Bounds(earliest_at=datetime(1990, 1, 1)))
        assert (o.rows_landed, o.rows_rejected) == (1, 0)
    finally:
        con.close()


# ---- D. file-level errors name the right line and a reason --------------------------------
def test_a_ragged_csv_row_is_rejected_with_its_row_and_the_rest_lands(settings, tmp_path):
    f = tmp_path / "feedback.csv"
    f.write_text(FEEDBACK_HEADER + "\n"
                 "e1,m1,2026-01-05T08:00:00Z,delivered,1\n"
                 'e2,m1,2026-01-05T08:00:00Z,delivered,"two\nlines"\n'  # one row over two lines
                 "e3,m1,2026-01-05T08:00:00Z,delivered,1,x,y\n"
                 "e4,m1,2026-01-05T08:00:00Z,delivered,1\n"
                 "e5,m1\n"
                 "e6,m1,2026-01-05T08:00:00Z,delivered,1\n")
    o = ingest(settings, "feedback", f)
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (6, 3, 3)
    assert [(r["event_id"], r["_row"]) for r in lake_rows(settings, "feedback")] == [("e1", 1), ("e4", 4), ("e6", 6)]
    got = rejected(settings, "feedback")
    assert got == {2: ("attempt", "not an integer"), 3: ("(row)", "expected 5 fields, found 7"),
                   5: ("(row)", "expected 5 fields, found 2")}
    assert json.loads(rejected_raw(settings, "feedback")[3]) == "e3,m1,2026-01-05T08:00:00Z,delivered,1,x,y"


def test_a_broken_json_line_is_rejected_with_its_own_line_number(settings, tmp_path):
    f = tmp_path / "tracking.jsonl"
    ok = '{"event_id": "t%d", "message_id": "m1", "event_at": "2026-01-05T09:00:00Z", "type": "open"}\n'
    f.write_text(ok % 1 + ok % 2 + '{"event_id": "t3", "message_id": \n' + ok % 4 + "\n" + ok % 6 + "[1, 2]\n")
    o = ingest(settings, "tracking", f)
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (6, 4, 2)
    assert [r["_row"] for r in lake_rows(settings, "tracking")] == [1, 2, 4, 6]
    assert rejected(settings, "tracking") == {
        3: ("(row)", "not valid JSON"), 7: ("(row)", "a JSON Lines line must be a JSON object, found array")}
    assert json.loads(rejected_raw(settings, "tracking")[3]) == '{"event_id": "t3", "message_id": '


def test_text_that_is_not_utf8_names_the_encoding_and_line(settings, tmp_path):
    f = tmp_path / "operators.csv"
    f.write_bytes("operator,roles\nalice,workflow\nzo\xe9,workflow\n".encode("latin-1"))
    with pytest.raises(pipeline.SendlensError) as err:
        pipeline.ingest(settings, "operators", [f])
    msg = str(err.value)
    assert msg.startswith(f"{f}: ") and "line 3: not valid UTF-8" in msg and "accepted encoding: UTF-8" in msg
    j = tmp_path / "operators.jsonl"
    j.write_bytes(b'{"operator": "a", "roles": "w"}\n{"operator": "b", "roles": "w"}\n{"operator": "zo\xe9", "roles": "w"}\n')
    with pytest.raises(pipeline.SendlensError, match=r"operators\.jsonl: .*line 3: not valid UTF-8"):
        pipeline.ingest(settings, "operators", [j])
    # a UTF-8 byte-order mark is fine
    b = tmp_path / "bom.csv"
    b.write_bytes(b"\xef\xbb\xbf" + _op("bom").encode())
    assert ingest(settings, "operators", b).rows_landed == 1
    assert [r["operator"] for r in lake_rows(settings, "operators")] == ["bom"]


def test_an_overlong_field_rejects_its_row_and_an_unclosed_quote_names_its_line(settings, tmp_path):
    f = tmp_path / "operators.csv"
    f.write_text("operator,roles\nalice,workflow\nbob," + "x" * 10_000_000 + "\ncarol,workflow\n")
    o = ingest(settings, "operators", f)
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (3, 2, 1)
    assert [(r["operator"], r["_row"]) for r in lake_rows(settings, "operators")] == [("alice", 1), ("carol", 3)]
    [(row, (field, reason))] = rejected(settings, "operators").items()
    assert (row, field) == (2, "(row)") and reason.startswith("row longer than 2,000,000 bytes")
    u = tmp_path / "unclosed.csv"
    u.write_text('operator,roles\nalice,workflow\n"bob,workflow\ncarol,workflow\n')
    with pytest.raises(pipeline.SendlensError, match=r"unclosed\.csv: cannot read as csv: line 3: a quoted field"):
        pipeline.ingest(settings, "operators", [u])


# ---- E. bad input accepted silently -------------------------------------------------------
def test_a_repeated_column_name_refuses_the_file_naming_it(settings, tmp_path):
    f = tmp_path / "operators.csv"
    f.write_text("operator,roles,operator\nalice,workflow,bob\n")
    with pytest.raises(pipeline.SendlensError, match=r"operators\.csv: .*column 'operator' appears twice"):
        pipeline.ingest(settings, "operators", [f])
    p = tmp_path / "operators.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array(["w"]), pa.array(["b"])],
                                        names=["operator", "roles", "operator"]), p)
    with pytest.raises(pipeline.SendlensError, match=r"operators\.parquet: .*column 'operator' appears twice"):
        pipeline.ingest(settings, "operators", [p])
    assert lake_rows(settings, "operators") == []


def test_json_objects_and_lists_in_scalar_fields_are_rejected(settings, tmp_path):
    f = tmp_path / "tracking.jsonl"
    base = {"message_id": "m1", "event_at": "2026-01-05T09:00:00Z", "type": "click"}
    rows = [
        {**base, "event_id": "t1", "url": "https://x.example/a"},
        {**base, "event_id": "t2", "url": {"nested": 1}},
        {**base, "event_id": "t3", "url": ["a", "b"]},
        {**base, "event_id": {"id": 4}},
        {**base, "event_id": "t5", "event_at": {"at": "2026-01-05"}},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    o = ingest(settings, "tracking", f)
    assert (o.rows_landed, o.rows_rejected) == (1, 4)
    assert rejected(settings, "tracking") == {
        2: ("url", "a JSON object where a string is expected"),
        3: ("url", "a JSON list where a string is expected"),
        4: ("event_id", "a JSON object where a string is expected"),
        5: ("event_at", "a JSON object where a timestamp is expected"),
    }
    # a list stays valid for operators.roles; an object there is not
    j = tmp_path / "operators.jsonl"
    j.write_text('{"operator": "a", "roles": ["workflow", "start_deliveries"]}\n{"operator": "b", "roles": {"r": 1}}\n')
    o = ingest(settings, "operators", j)
    assert (o.rows_landed, o.rows_rejected) == (1, 1)
    assert [r["roles"] for r in lake_rows(settings, "operators")] == [["workflow", "start_deliveries"]]
    assert rejected(settings, "operators") == {2: ("roles", "a JSON object where a list is expected")}


def test_utc_offsets_beyond_18_hours_are_rejected_naming_the_offset(settings, tmp_path):
    f = tmp_path / "feedback.csv"
    f.write_text(FEEDBACK_HEADER + "\n"
                 "e1,m1,2026-01-05T08:00:00+99:00,delivered,1\n"
                 "e2,m1,2026-01-05T08:00:00+9900,delivered,1\n"
                 "e3,m1,2026-01-05T08:00:00-19:00,delivered,1\n"
                 "e4,m1,2026-01-05T08:00:00+18:00,delivered,1\n"
                 "e5,m1,2026-01-05T08:00:00.5+0530,delivered,1\n"
                 "e6,m1,2026-01-05 08:00-05,delivered,1\n"
                 "e7,m1,2026-01-05T08:00:00+05:75,delivered,1\n")
    o = ingest(settings, "feedback", f)
    assert (o.rows_landed, o.rows_rejected) == (3, 4)
    assert rejected(settings, "feedback") == {
        1: ("event_at", "UTC offset +99:00 is outside -18:00..+18:00"),
        2: ("event_at", "UTC offset +9900 is outside -18:00..+18:00"),
        3: ("event_at", "UTC offset -19:00 is outside -18:00..+18:00"),
        7: ("event_at", "UTC offset +05:75 is outside -18:00..+18:00"),
    }
    got = {r["event_id"]: r["event_at"] for r in lake_rows(settings, "feedback")}
    assert got == {"e4": datetime(2026, 1, 4, 14, 0), "e5": datetime(2026, 1, 5, 2, 30, 0, 500000),
                   "e6": datetime(2026, 1, 5, 13, 0)}
    # the ESP timestamp parser has the same rule
    from sendlens.ingest.esp.errors import EventRejected
    from sendlens.ingest.esp.fields import parse_ts
    with pytest.raises(EventRejected, match=r"offset \+99:00 is outside"):
        parse_ts("2026-03-02T10:00:00+99:00", "timestamp")


# ---- F. provider exports: deep nesting, bad bytes, bad JSON --------------------------------
def test_deeply_nested_provider_json_is_rejected_per_event_or_named(settings, tmp_path):
    ok = {"email": "a@x.com", "timestamp": 1772442000, "event": "processed", "category": "c",
          "sg_event_id": "1", "sg_message_id": "m1.f"}
    deep = "[" * 100_000 + "]" * 100_000
    deep_obj = '{"email": "b@x.com", "event": "processed", "x": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"
    f = tmp_path / "sg.jsonl"
    f.write_text(json.dumps(ok) + "\n" + deep + "\n" + deep_obj + "\n" + json.dumps({**ok, "sg_event_id": "2"}) + "\n")
    [o] = pipeline.ingest(settings, "", [f], source="sendgrid")
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (4, 2, 2)
    got = {r["row_number"]: r["reason"] for r in _read(settings, "esp", "rejected.parquet")}
    assert got == {2: "JSON nested deeper than 64 levels on line 2", 3: "JSON nested deeper than 64 levels on line 3"}
    # a whole document nested too deeply: an error naming the file, not an internal error
    d = tmp_path / "deep.json"
    d.write_text("[\n" + "[" * 100_000 + "]" * 100_000 + "\n]\n")
    with pytest.raises(pipeline.SendlensError, match=r"deep\.json: line 2: the JSON document nests deeper"):
        pipeline.ingest(settings, "", [d], source="sendgrid")


def test_a_provider_file_with_bad_bytes_or_bad_json_names_file_and_line(settings, tmp_path):
    f = tmp_path / "mg.jsonl"
    f.write_bytes(b'{"event-data": {"event": "accepted"}}\n{"event-data": {"event": "d\xe9livered"}}\n')
    with pytest.raises(pipeline.SendlensError, match=r"mg\.jsonl: line 2: not valid UTF-8"):
        pipeline.ingest(settings, "", [f], source="mailgun")
    b = tmp_path / "bad.json"
    b.write_text("\n\nnot json at all\n")
    with pytest.raises(pipeline.SendlensError, match=r"bad\.json: line 3: "):
        pipeline.ingest(settings, "", [b], source="sendgrid")
