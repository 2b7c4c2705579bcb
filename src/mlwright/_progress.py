"""How long work reports progress: the library calls a Progress; the CLI draws it with Rich."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage begins; ``total`` steps if known."""

    def advance(self, steps: int = 1, note: str = "") -> None:
        """Steps of the current stage are done."""

    def log(self, message: str) -> None:
        """A line worth showing the user."""


class Silent:
    """Reports nothing (the library default)."""

    def stage(self, name: str, total: int | None = None) -> None:
        return None

    def advance(self, steps: int = 1, note: str = "") -> None:
        return None

    def log(self, message: str) -> None:
        return None
