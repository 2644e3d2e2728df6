"""The data-quality page: one self-contained ``index.html`` (inline CSS, no scripts, no CDN) of
every gate of a build: its dbt tests (warnings included), the great-expectations suites and
the plain checks of a ``CheckReport``, and the findings of marts.rpt_data_quality_findings.
A summary first (counts per gate and status, one verdict that counts warnings), failures and
warnings next, then the rest; the passing ``expect_column_to_exist`` rows folded in a
``<details>``. Rendered from ``templates/data_docs.html.j2`` with autoescape on, so names,
descriptions and observed values (which may carry text from the landed files) are escaped.
Beside it, in ``great_expectations/``, GE's own Data Docs of the same suite results
(``gx.write_data_docs``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from sendlens.expectations.formatting import _fmt_kwargs
from sendlens.expectations.gx import write_data_docs
from sendlens.expectations.results import CheckReport, CheckResult, ExpectationOutcome
from sendlens.expectations.suite_defs import SuiteDef

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "data_docs.html.j2"
GX_DOCS = "great_expectations"  # GE's Data Docs, beside the page
FOLDED = "expect_column_to_exist"  # its passing rows are folded away (a <details>)
_DBT_FAILED = ("fail", "error")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["fmt_kwargs"] = _fmt_kwargs
    return env


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _utc(ts: datetime | None) -> str:
    if ts is None:
        return "-"
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts.isoformat(sep=" ", timespec="seconds") + " UTC"


def _outcome_status(o: ExpectationOutcome) -> str:
    return "passed" if o.success else ("warning" if o.severity == "warning" else "failed")


def _suite_rows(r: CheckResult) -> tuple[list[ExpectationOutcome], list[ExpectationOutcome]]:
    """A suite's outcomes: failures and warnings first, then the rest; and, apart, its passing
    expect_column_to_exist rows (folded on the page)."""
    order = {"failed": 0, "warning": 1, "passed": 2}
    shown = [o for o in r.expectations if not (o.success and o.type == FOLDED)]
    folded = [o for o in r.expectations if o.success and o.type == FOLDED]
    return sorted(shown, key=lambda o: order[_outcome_status(o)]), folded


def page_context(report: CheckReport, dbt_tests: list[dict] | None,
                 findings: list[dict] | None, gx_docs: str | None) -> dict[str, Any]:
    """What the template shows, computed here (the template only lays it out)."""
    tests = list(dbt_tests or [])
    results = report.results
    suites = [r for r in results if r.kind == "suite"]
    plain = [r for r in results if r.kind != "suite"]

    def tally(rs: list[CheckResult]) -> dict[str, int]:
        return {"total": len(rs), "passed": sum(r.status == "passed" and not r.skipped for r in rs),
                "warned": sum(r.status == "passed" and bool(r.warnings) for r in rs),
                "failed": sum(r.status == "failed" for r in rs), "skipped": sum(r.skipped for r in rs)}

    dbt = {"total": len(tests), "passed": sum(t["status"] == "pass" for t in tests),
           "warned": sum(t["status"] == "warn" for t in tests),
           "failed": sum(t["status"] in _DBT_FAILED for t in tests),
           "skipped": sum(t["status"] == "skipped" for t in tests)}
    # the attention list: every failure and every warning, of every gate
    attention: list[dict] = []
    for t in tests:
        if t["status"] in _DBT_FAILED or t["status"] == "warn":
            attention.append({"gate": "dbt test", "name": t["name"], "on": t["model"],
                              "what": t.get("description") or t.get("message") or "",
                              "status": "failed" if t["status"] in _DBT_FAILED else "warning",
                              "count": t.get("failures")})
    for r in results:
        gate = "great-expectations suite" if r.kind == "suite" else f"{r.kind} check"
        for f in r.failures:
            attention.append({"gate": gate, "name": r.name, "on": r.relation or "", "what": f,
                              "status": "failed", "count": None})
        for w in r.warnings:
            attention.append({"gate": gate, "name": r.name, "on": r.relation or "", "what": w,
                              "status": "warning", "count": None})
    attention.sort(key=lambda a: a["status"] != "failed")
    n_failed = sum(a["status"] == "failed" for a in attention)
    n_warned = len(attention) - n_failed
    if not report.passed or dbt["failed"]:
        verdict, status = f"failed ({_plural(n_failed, 'failure')}", "failed"
        verdict += f", {_plural(n_warned, 'warning')})" if n_warned else ")"
    elif n_warned:
        verdict, status = f"passed with {_plural(n_warned, 'warning')}", "warning"
    else:
        verdict, status = "passed", "passed"
    found = list(findings or [])
    return {
        "verdict": verdict, "status": status,
        "warehouse": report.db_path.name if report.db_path else None,  # its name: no local path
        "as_of": _utc(report.as_of), "generated": _utc(datetime.now(timezone.utc)),
        "seconds": report.seconds,
        "summary": [
            {"gate": "dbt tests", "anchor": "dbt", **dbt},
            {"gate": "great-expectations suites", "anchor": "suites", **tally(suites)},
            {"gate": "cross-table, freshness and consistency checks", "anchor": "checks", **tally(plain)},
        ],
        "attention": attention, "n_failed": n_failed, "n_warned": n_warned,
        "dbt_tests": tests, "suites": [(r, *_suite_rows(r)) for r in suites], "checks": plain,
        "findings": found if findings is not None else None,
        "findings_rows": sum(f["rows"] for f in found),
        "findings_warnings": sum(f["rows"] for f in found if f["severity"] == "warning"),
        "gx_docs": gx_docs,
    }


def write_docs(report: CheckReport, docs_dir: Path, *, suites: Iterable[SuiteDef] | None = None,
               dbt_tests: list[dict] | None = None, findings: list[dict] | None = None) -> Path:
    """The data-quality page (``index.html``) of every gate, and with ``suites`` (the
    SuiteDefs the report ran) GE's Data Docs of their results in ``great_expectations/``."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    gx_docs = None
    if suites is not None:
        written = write_data_docs(report.results, suites, docs_dir / GX_DOCS,
                                  run_time=datetime.now(timezone.utc))
        if "index.html" in written:
            gx_docs = f"{GX_DOCS}/index.html"
    page = _environment().get_template(TEMPLATE).render(
        **page_context(report, dbt_tests, findings, gx_docs), outcome_status=_outcome_status)
    path = docs_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
