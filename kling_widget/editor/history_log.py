"""Where the undo history is written so it survives a restart.

:class:`JsonLinesLog` keeps it in a JSON-lines file next to the project's journal (one
entry a line, synced per entry; a line cut short by a crash is ignored);
:class:`MemoryLog` keeps it in memory (tests, a read-only view). Both meet
:class:`HistoryLog`. Imports nothing from the package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

Entry = dict[str, object]

__all__ = ["Entry", "HistoryLog", "JsonLinesLog", "MemoryLog"]


class HistoryLog(Protocol):
    """Where the history is written so it survives a restart."""

    def read(self) -> list[Entry]:
        """Every entry written so far, oldest first."""
        ...

    def append(self, entry: Entry) -> None:
        """Write one more entry (durably, before returning)."""
        ...

    def rewrite(self, entries: Sequence[Entry]) -> None:
        """Replace every entry (compaction), atomically."""
        ...


@dataclass
class MemoryLog:
    """A history log in memory (tests; a read-only editor)."""

    entries: list[Entry] = field(default_factory=list)

    def read(self) -> list[Entry]:
        """Every entry, oldest first."""
        return list(self.entries)

    def append(self, entry: Entry) -> None:
        """Keep one more entry."""
        self.entries.append(dict(entry))

    def rewrite(self, entries: Sequence[Entry]) -> None:
        """Replace every entry."""
        self.entries = [dict(e) for e in entries]


class JsonLinesLog:
    """A history log as a JSON-lines file, one entry a line, flushed and synced per entry.

    A line cut short by a crash (the last one) is ignored when reading.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[Entry]:
        """Every complete entry, oldest first (``[]`` when the file does not exist)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out: list[Entry] = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def append(self, entry: Entry) -> None:
        """Append one entry and sync it to disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def rewrite(self, entries: Sequence[Entry]) -> None:
        """Replace the file's content atomically (write aside, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
