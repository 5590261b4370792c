"""Reports: a run rendered as one self-contained HTML file."""

from jurist.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
