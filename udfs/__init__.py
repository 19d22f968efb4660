"""Operators that promote documents between tiers, as plain Python over Arrow arrays.

Each module holds small, pure functions usable from Python directly and from SQL once
``udfs.registry.register`` has put them on a DuckDB connection.
"""
