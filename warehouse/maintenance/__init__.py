"""``tierhouse maintain``: a retention policy over snapshots, and removal of the files none references.

``retention`` decides which snapshots every table keeps; ``files`` finds the data, manifest and
metadata files that no kept snapshot references and deletes them.
"""
