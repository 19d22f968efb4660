"""tierhouse: a lakehouse for LLM training data with SQL-level quality tiers.

``warehouse.connect()`` gives a DuckDB connection over every tier and ops table.
"""

from warehouse.query import connect

__all__ = ["connect"]
