"""Builds in bounded memory: DuckDB's limit and spill folder, byte-bounded Arrow chunks, and
out-of-memory errors that name the build step and what it needed."""
