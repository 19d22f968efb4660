"""One self-contained HTML page per build: what each tier holds, what entered and left, the gates, scores and cost.

- ``pins``: which snapshot of each table a build means, as time-travel SQL (``FOR VERSION AS OF``);
- ``blocks``: the page's building blocks; every number comes from a ``Result`` that keeps its SQL;
- ``tiers``, ``checks``: the sections' data, gathered by running the SQL they show;
- ``charts``: matplotlib figures as inline SVG (no script, no network);
- ``page``: the HTML assembly; ``write``: gather, render, write, and the switch for builds.
"""

from warehouse.report.write import report_enabled, write_report

__all__ = ["report_enabled", "write_report"]
