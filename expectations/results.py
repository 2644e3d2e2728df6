"""What a validation returns: one ``ExpectationOutcome`` per expectation, one ``CheckResult``
per suite or check, and the ``CheckReport`` of a whole run (with its text summary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sendlens.expectations.formatting import _fmt_kwargs

SAMPLE_VALUES = 5  # unexpected values kept per expectation

Status = Literal["passed", "failed"]


@dataclass
class ExpectationOutcome:
    """One expectation of one suite, aggregated over every chunk of its table."""

    type: str
    kwargs: dict[str, Any]
    severity: str  # critical | warning
    success: bool
    observed: str  # readable observed value ("2 unexpected of 1000 (0.20%), e.g. [...]")
    # the same outcome as great-expectations words a result (element_count, unexpected_count,
    # unexpected_percent, partial_unexpected_list, observed_value): its Data Docs render it
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.type}({_fmt_kwargs(self.kwargs)})"


@dataclass
class CheckResult:
    name: str
    status: Status
    details: str
    failures: list[str]
    kind: str = "suite"  # suite | cross | freshness | consistency
    relation: str | None = None
    rows: int | None = None
    warnings: list[str] = field(default_factory=list)
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False  # nothing to check (optional table absent); status is "passed"

    @property
    def label(self) -> str:
        return "skipped" if self.skipped else self.status


@dataclass
class CheckReport:
    results: list[CheckResult]
    as_of: datetime | None = None
    db_path: Path | None = None
    seconds: float = 0.0
    memory_limit: str | None = None  # the suites' DuckDB limit, as DuckDB reports it

    @property
    def passed(self) -> bool:
        return all(r.status == "passed" for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def summary(self) -> str:
        failed = self.failed
        n_warn = sum(len(r.warnings) for r in self.results)
        head = (f"data-quality checks: {'PASSED' if not failed else 'FAILED'} "
                f"({len(self.results) - len(failed)} of {len(self.results)} checks passed")
        head += f", {n_warn} warning{'s' if n_warn != 1 else ''})" if n_warn else ")"
        if self.as_of is not None:
            head += f" as of {self.as_of.isoformat(sep=' ')}"
        lines = [head]
        for r in sorted(self.results, key=lambda r: r.status != "failed"):
            what = f"suite {r.name}" if r.kind == "suite" else f"check {r.name}"
            lines.append(f"  [{r.status.upper() if r.status == 'failed' else r.label}] "
                         f"{what}: {r.details}")
            for f in r.failures:
                lines.append(f"      FAIL {f}")
            for w in r.warnings:
                lines.append(f"      warn {w}")
        return "\n".join(lines)
