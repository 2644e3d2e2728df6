"""The data-docs page: a self-contained ``index.html`` (inline CSS, no scripts, no CDN) of every
result of a ``CheckReport``, rendered from ``templates/data_docs.html.j2`` with autoescape on,
so names, details and observed values (which may carry text from the landed files) are
escaped."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import jinja2

from sendlens.expectations.formatting import _fmt_kwargs
from sendlens.expectations.results import CheckReport

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "data_docs.html.j2"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["fmt_kwargs"] = _fmt_kwargs
    return env


def write_docs(report: CheckReport, docs_dir: Path) -> Path:
    """A self-contained HTML page (inline CSS, no scripts, no CDN) of every result."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    page = _environment().get_template(TEMPLATE).render(
        report=report,
        status="passed" if report.passed else "failed",
        as_of=report.as_of.isoformat(sep=" ") if report.as_of else "-",
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
    )
    path = docs_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
