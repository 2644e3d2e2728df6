"""Data-quality suites (Great Expectations JSON in ``suites/``) and their runner."""

from sendlens.expectations.runner import CheckReport, CheckResult, validate_warehouse

__all__ = ["CheckReport", "CheckResult", "validate_warehouse"]
