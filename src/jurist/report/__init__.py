"""Reports and review: runs rendered as one self-contained HTML file, and the human review app."""

from jurist.report.html import render_report, write_report
from jurist.report.runs import render_runs_report, write_runs_report

__all__ = ["render_report", "render_runs_report", "write_report", "write_runs_report"]
