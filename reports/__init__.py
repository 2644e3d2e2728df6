"""Exported report files (CSV, Parquet, Excel, HTML) from a sendlens DuckDB warehouse.

Takes paths and parameters only; never imports the ``sendlens`` CLI package.
"""

from .export import ExportResult, export_reports
from .warehouse import mask_address

__all__ = ["ExportResult", "export_reports", "mask_address"]
