"""Engines for the heavy per-document operators: the in-process default (DuckDB UDFs) or Ray Data.

With dbt var ``engine: ray`` a Ray Data job reads the input snapshot on the workers, runs the same
``udfs`` operators there and commits their results to ``ops.measures``; the dbt models join those
results, so the SQL still decides.
"""
