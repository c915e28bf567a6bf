"""The report of a sweep: which configuration is best, which factor matters, and by how much beyond seed noise.

`build_report` writes <sweep_dir>/report/: `index.html` (one offline file, its plots inlined as PNG data URIs),
`report.md` (the same tables, its plots as PNG files beside it) and `summary.csv` (one row per configuration).
`write_hparams` gives TensorBoard's HParams view of the same runs. The plots need matplotlib (the `report` extra),
which is imported only when a report is built.

    summary.py      runs gathered into configurations: final and best values, means and deviations over seeds
    statistics.py   Welch's t-test and the one-way ANOVA (scipy.stats), factor effects, the budget curve
    plots.py        the figures (matplotlib), as PNG bytes
    document.py     headings, paragraphs, tables and images rendered as Markdown and offline HTML
    build.py        build_report: the report's pages and summary.csv
    hparams.py      write_hparams: TensorBoard's HParams sessions
"""

from ganjax.sweep.report.build import build_report
from ganjax.sweep.report.hparams import write_hparams

__all__ = ["build_report", "write_hparams"]
