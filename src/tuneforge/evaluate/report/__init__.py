"""The before/after report: report.html (`build`, `sections`, `plots`) and the terminal
comparison of several runs (`compare`)."""

from tuneforge.evaluate.report.build import build_report, render_report

__all__ = ["build_report", "render_report"]
