"""Problems found while reading input: skipped and counted, or raised under ``strict``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from recengine.errors import InputError

# Keep the first messages of each kind; the counts stay exact. The report's size is bounded by the number of
# kinds, not by the number of bad rows.
MAX_KEPT_PER_KIND = 20


@dataclass
class LoadReport:
    """Collects row-level problems. Under ``strict`` the first problem raises :class:`InputError`."""

    strict: bool = False
    skipped: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    _kept: Counter = field(default_factory=Counter)

    def problem(self, kind: str, message: str, *, path: str | Path, line: int | None = None) -> None:
        """Record one skipped row (or raise under strict). ``kind`` is a short key such as ``bad_label``."""
        error = InputError(message, path=path, line=line)
        if self.strict:
            raise error
        self.skipped[kind] += 1
        if self._kept[kind] < MAX_KEPT_PER_KIND:
            self._kept[kind] += 1
            self.messages.append(f"{error} (skipped)")

    def skip(self, kind: str, count: int) -> None:
        """Count ``count`` more skipped rows of ``kind`` without a message (the report keeps no more of them)."""
        if count:
            self.skipped[kind] += count

    def room(self, kind: str) -> int:
        """How many more messages of ``kind`` the report keeps."""
        return MAX_KEPT_PER_KIND - self._kept[kind]

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> dict:
        return {"skipped_rows": self.total_skipped, "skipped_by_kind": dict(sorted(self.skipped.items()))}
