"""The account an ingest gives of itself: every record read is ingested, a duplicate, quarantined or skipped."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from warehouse.ingest.records import Rejection, Skip


@dataclass
class IngestSummary:
    """Counts for one ingest run; ``read == ingested + duplicates + quarantined + skipped`` always holds."""

    source: str
    ingest_batch: str
    files: int = 0
    bytes_read: int = 0
    read: int = 0
    ingested: int = 0
    duplicates_in_input: int = 0
    duplicates_in_l0: int = 0
    quarantined: int = 0
    quarantine_rows_added: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    examples: dict[str, dict[str, str]] = field(default_factory=dict)
    snapshots: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        return self.duplicates_in_input + self.duplicates_in_l0

    @property
    def balanced(self) -> bool:
        return self.read == self.ingested + self.duplicates + self.quarantined + self.skipped

    @property
    def docs_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes_read / 1e6 / self.seconds if self.seconds else 0.0

    def count_rejection(self, rejection: Rejection) -> None:
        """Tally one quarantined input, keeping the first of each reason as its example."""
        self.quarantined += 1
        reason = str(rejection.reason)
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        self.examples.setdefault(
            reason, {"file": rejection.file, "location": rejection.location, "message": rejection.message}
        )

    def count_skip(self, skip: Skip) -> None:
        """Tally one record passed over on purpose (a redirect, a talk page)."""
        self.skipped += 1
        reason = str(skip.reason)
        self.skipped_by_reason[reason] = self.skipped_by_reason.get(reason, 0) + 1

    def to_dict(self) -> dict:
        """A JSON-ready view, derived figures included."""
        out = asdict(self)
        out.update(
            duplicates=self.duplicates,
            docs_per_second=round(self.docs_per_second, 1),
            mb_per_second=round(self.mb_per_second, 2),
            seconds=round(self.seconds, 3),
        )
        return out
