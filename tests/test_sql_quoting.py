"""The one quoting helper (sendlens/core/sql.py) with hostile strings in every position: a
literal reads back as itself, an identifier names exactly its column, an escaped path reads
exactly its file, and a NUL is refused."""

from __future__ import annotations

import duckdb
import pytest

from sendlens.core.sql import glob_escape, glob_literal, identifier, literal, path_literal

HOSTILE = [
    "O'Brien", "''", "'; drop table t; --", '"quoted"', "back\\slash\\'", "x' or '1'='1",
    "new\nline", "tab\there", "ünïcødé ✉", "[1]*?", "{a,b}", "$1", "?", "%s", "-- comment",
    "/* c */", "e'\\x41'", "$$dollar$$",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_literal_is_its_value(value):
    con = duckdb.connect()
    assert con.execute(f"select {literal(value)}").fetchone()[0] == value


@pytest.mark.parametrize("name", HOSTILE)
def test_an_identifier_names_exactly_its_column(name):
    con = duckdb.connect()
    con.execute(f"create table t ({identifier(name)} integer, other integer)")
    con.execute(f"insert into t ({identifier(name)}, other) values (1, 2)")
    assert con.execute(f"select {identifier(name)} from t").fetchall() == [(1,)]
    assert [r[0] for r in con.execute("describe t").fetchall()] == [name, "other"]


@pytest.mark.parametrize("name", ["a[1].csv", "star*.csv", "q?.csv", "it's [x]-*.csv", "[[]].csv", "*"])
def test_an_escaped_path_reads_exactly_its_file(tmp_path, name):
    folder = tmp_path / "in [1] it's *"
    folder.mkdir()
    (folder / name).write_text("v\nmine\n")
    for decoy in ("a1.csv", "starX.csv", "qZ.csv", "it's x-y.csv", "[].csv", "z"):
        if decoy != name:
            (folder / decoy).write_text("v\ndecoy\n")
    con = duckdb.connect()
    assert con.execute(f"select v from read_csv({path_literal(folder / name)})").fetchall() == [("mine",)]
    assert con.execute("select v from read_csv(?)", [glob_escape(folder / name)]).fetchall() == [("mine",)]
    every = con.execute(f"select count(*) from read_csv({glob_literal(folder, '/*')})").fetchone()[0]
    assert every == len(list(folder.iterdir()))  # the folder escaped, the pattern's own * expands


def test_a_nul_character_is_refused_not_truncated():
    for helper in (literal, identifier, path_literal):
        with pytest.raises(ValueError, match="NUL"):
            helper("a\x00b")
