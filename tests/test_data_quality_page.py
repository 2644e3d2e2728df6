"""The data-quality page of a real demo build (issue 21): every gate of the published build on
one page (dbt's tests with their warning, the great-expectations suites and checks, the
findings), no local path in it, and great-expectations' own Data Docs beside it in the export."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from sendlens import gate, pipeline
from sendlens.config import load_settings
from sendlens.expectations.suite_defs import load_suites

WARN_TEST = "expression_is_true_rpt_exclusion_causes_excluded_but_in_send_log_0"


@pytest.fixture(scope="module")
def built(demo_home) -> dict:
    home = demo_home
    settings = load_settings(home, environ={})
    [export_dir] = sorted((home / "exports").iterdir())
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        tests = gate.read_dbt_tests(con)
        # the warn-severity test's failing rows, counted here from the mart it tests
        violations = con.execute("select count(*) from marts.rpt_exclusion_causes "
                                 "where not (excluded_but_in_send_log = 0)").fetchone()[0]
        stored = dict(con.execute("select name, content from audit.gate_documents").fetchall())
    finally:
        con.close()
    page = (export_dir / "data-quality" / "index.html").read_text(encoding="utf-8")
    return {"home": home, "settings": settings, "export": export_dir, "page": page, "tests": tests,
            "violations": violations, "stored": stored}


class _Rows(HTMLParser):
    """Each table row's cell texts, and whether it is inside a <details>."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[list[str], bool]] = []
        self._details = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            self._details += 1
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "details":
            self._details -= 1
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append((self._row, self._details > 0))
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _rows(page: str) -> list[tuple[list[str], bool]]:
    parser = _Rows()
    parser.feed(page)
    return parser.rows


def test_the_dbt_warning_is_on_the_page_with_its_description_and_the_verdict_counts_it(built):
    page, tests = built["page"], built["tests"]
    [warned] = [t for t in tests if t["status"] == "warn"]
    assert warned["name"] == WARN_TEST and warned["model"] == "rpt_exclusion_causes"
    assert warned["severity"] == "warn" and warned["description"].startswith("Targets excluded before the send")
    assert re.search(r"<h1>sendlens data quality: <span class='warning'>PASSED WITH 1 WARNING</span></h1>", page)
    assert "FAILED" not in page
    # in the failures-and-warnings list and in the dbt tests' table, with its description
    rows = [cells for cells, _ in _rows(page) if WARN_TEST in cells]
    assert len(rows) == 2, rows
    for cells in rows:
        assert warned["description"] in cells and "warning" in cells and "rpt_exclusion_causes" in cells
    # the summary counts every dbt test of the build, per status
    summary = next(cells for cells, _ in _rows(page) if cells and cells[0] == "dbt tests")
    assert summary[1:] == [str(len(tests)), str(len(tests) - 1), "1", "0", "0"]


def test_the_failing_warn_test_counts_its_rows(built):
    [warned] = [t for t in built["tests"] if t["status"] == "warn"]
    assert built["violations"] > 0 and warned["failures"] == built["violations"]
    rows = [cells for cells, _ in _rows(built["page"]) if WARN_TEST in cells]
    assert all(cells[-1] == str(built["violations"]) for cells in rows), rows
    # every other dbt test passed with no failing row, and each is on the page (folded)
    passed = [t for t in built["tests"] if t is not warned]
    assert passed and all(t["status"] == "pass" and t["failures"] == 0 for t in passed)
    shown = {cells[0]: folded for cells, folded in _rows(built["page"]) if cells}
    assert all(shown.get(t["name"]) is True for t in passed)


def test_the_great_expectations_results_are_on_the_page(built):
    page = built["page"]
    for s in load_suites():
        assert f">{s.name}</a>" in page, s.name
    assert "expect_column_values_to_not_be_null" in page and "freshness.feeds" in page
    suites = next(cells for cells, _ in _rows(page) if cells and cells[0] == "great-expectations suites")
    assert suites[1] == str(len(load_suites())) and suites[4] == "0"


def test_passing_column_exists_rows_are_folded(built):
    rows = _rows(built["page"])
    exists = [(cells, folded) for cells, folded in rows if cells and cells[0] == "expect_column_to_exist"]
    n_suite_columns = sum(1 for s in load_suites() for e in s.expectations if e["type"] == "expect_column_to_exist")
    assert len(exists) == n_suite_columns
    assert all(folded and cells[3] == "passed" for cells, folded in exists)
    # other expectations are not folded; each <details> says how many rows it holds
    assert any(not folded for cells, folded in rows if cells and cells[0] == "expect_column_values_to_not_be_null")
    counts = [int(n) for n in re.findall(r"<summary>(\d+) passing expect_column_to_exist rows</summary>", built["page"])]
    assert sum(counts) == n_suite_columns


def test_the_findings_are_summarised_without_their_rows(built):
    page = built["page"]
    con = duckdb.connect(str(built["settings"].warehouse), read_only=True)
    try:
        per_finding = con.execute("select finding, count(*) from marts.rpt_data_quality_findings "
                                  "group by finding").fetchall()
        some_message = con.execute("select message_id from marts.rpt_data_quality_findings "
                                   "where message_id is not null limit 1").fetchone()
    finally:
        con.close()
    assert per_finding
    rows = {cells[0]: cells for cells, _ in _rows(page) if cells}
    for finding, n in per_finding:
        assert finding in rows
    total = sum(n for _, n in per_finding)
    assert f"{total} row{'' if total == 1 else 's'} of marts.rpt_data_quality_findings" in page
    if some_message:
        assert some_message[0] not in page  # counts only: ids are personal data


def test_no_local_path_and_the_page_is_self_contained(built):
    home = built["home"]
    page = built["page"]
    # the copied home's paths, and the path the demo was built in (tests/conftest.py)
    for path in {str(home), str(Path(home).resolve()), str(built["settings"].warehouse), "/demo-home-"}:
        assert path not in page
        for name, text in built["stored"].items():
            assert path not in text, name
    assert "warehouse sendlens.duckdb;" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count("<table>") == page.count("<caption>") and "<th scope='col'>" in page
    assert re.search(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)


def test_great_expectations_data_docs_are_in_the_export(built):
    site = built["export"] / "data-quality" / "great_expectations"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "href='great_expectations/index.html'" in built["page"]
    assert "fct_message_status" in index and "expectations/fct_message_status.html" in index
    suite_page = (site / "expectations" / "fct_message_status.html").read_text(encoding="utf-8")
    assert "expect_column_values_to_be_in_set" in suite_page or "values must belong to this set" in suite_page
    validations = sorted((site / "validations").rglob("*.html"))
    assert {p.relative_to(site / "validations").parts[0] for p in validations} >= {"fct_message_status", "send_log"}
    # stored in the warehouse like the page (text only), and exported from there
    names = {n for n in built["stored"] if n.startswith("great_expectations/")}
    assert "great_expectations/index.html" in names
    assert all(n.endswith((".html", ".css")) for n in names)
    exported = {str(p.relative_to(site.parent)) for p in site.rglob("*") if p.is_file()}
    assert exported == names


def test_compute_stats_keeps_its_dbt_tests_beside_the_builds(built):
    settings = built["settings"]
    pipeline.compute_stats(settings)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        tests = gate.read_dbt_tests(con)
        docs = {r[0] for r in con.execute("select name from audit.gate_documents").fetchall()}
    finally:
        con.close()
    by_gate = {g: [t for t in tests if t["gate"] == g] for g in ("build", "compute-stats")}
    assert by_gate["compute-stats"] and all(t["status"] == "pass" for t in by_gate["compute-stats"])
    assert any(t["model"] == "dash_delivery_kpis" for t in by_gate["compute-stats"])
    # the build's other tests stay (its warning among them), none counted twice
    assert any(t["name"] == WARN_TEST for t in by_gate["build"])
    assert len({t["unique_id"] for t in tests}) == len(tests) == len(built["tests"])
    assert {"index.html", "compute-stats/index.html", "compute-stats/great_expectations/index.html"} <= docs
