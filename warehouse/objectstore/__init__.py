"""The warehouse on S3-compatible object storage: where DuckDB finds the credentials pyiceberg uses.

pyiceberg writes through its own S3 FileIO, configured by the named catalog's ``s3.*`` properties
(``~/.pyiceberg.yaml`` or ``PYICEBERG_CATALOG__<NAME>__S3__*``) or, for what those leave out, the
usual ``AWS_*`` variables. DuckDB reads the same tables through its ``httpfs`` extension; this package
gives every DuckDB connection a temporary S3 secret built from the same sources, so both sides see
one configuration and no credential is ever written into SQL text or a log.
"""

from warehouse.objectstore.access import S3Access, s3_access
from warehouse.objectstore.duck import attach_s3
from warehouse.objectstore.redact import redact, secret_values

__all__ = ["S3Access", "attach_s3", "redact", "s3_access", "secret_values"]
