"""A run's wall clock: the time budget covers the whole run, from the command's start to the
end of registration, so every step asks the same clock how much is left."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Clock:
    """``budget`` seconds from ``started`` (``time.monotonic()``); the last ``reserved`` of
    them are kept for what follows the work (writing the card, saving, registering), so
    ``end`` and ``left`` are about the work."""

    started: float
    budget: float
    reserved: float = 0.0

    @classmethod
    def start(cls, budget: float, started: float | None = None) -> Clock:
        return cls(time.monotonic() if started is None else started, budget)

    @property
    def end(self) -> float:
        """When the work must be done (``time.monotonic()``)."""
        return self.started + self.budget - self.reserved

    def left(self) -> float:
        """Seconds until ``end``; negative once it has passed."""
        return self.end - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def keeping(self, seconds: float) -> Clock:
        """The same clock with ``seconds`` more kept free at the end."""
        return Clock(self.started, self.budget, self.reserved + seconds)

    def budget_for(self, seconds: float) -> int:
        """The smallest whole budget that would leave ``seconds`` for the work from now."""
        return max(1, math.ceil(self.budget + max(seconds - self.left(), 0.0)))


def process_started() -> float:
    """``time.monotonic()`` when this process started: a command's budget covers its
    interpreter's start and imports too. Read from Linux's /proc (clock ticks since boot);
    elsewhere, or if that reading is odd, now."""
    now = time.monotonic()
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime; the split starts at field 3
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - age if 0.0 <= age < 60.0 else now
