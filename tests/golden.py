"""The golden run: the bundled churn example with a fixed seed and ``max_trials``.

A refactor of the main job must leave its model bit-identical, its metrics equal and its
card text the same. What a run measures of the machine (latencies, durations, the time of
day) is left out of the comparison; everything else is compared exactly.

To write a new golden file, when a change is meant to alter the result, run
``MLWRIGHT_WRITE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "churn" / "spec.toml"
GOLDEN = Path(__file__).parent / "fixtures" / "golden_churn.json"
# No latency limit: a limit near the measured latencies would make the choice depend on how
# busy the machine is (the churn spec's 10 ms p99 rejects candidates on a loaded machine).
OVERRIDES = {
    "max_trials": 8,
    "time_budget": "1h",
    "max_latency_p99_ms": None,
    "target_latency_p50_ms": None,
}

# Keys whose values measure the machine, not the model.
MACHINE_KEYS = frozenset(
    {
        "created_at",
        "timings",
        "latency",
        "p50_us",
        "p99_us",
        "fit_seconds",
        "finished_s",
        "batch_rows_per_second",
        "seconds",
        "pareto",
        "files",
        "path",
    }
)
# A ratio of two measured latencies, inside a sentence.
LATENCY_RATIO = re.compile(r"\d[\d.,]*x the single-row")


def without_machine(value: Any) -> Any:
    """``value`` with every machine-measured key dropped and latency ratios masked."""
    if isinstance(value, dict):
        return {k: without_machine(v) for k, v in value.items() if k not in MACHINE_KEYS}
    if isinstance(value, list):
        return [without_machine(v) for v in value]
    if isinstance(value, str):
        return LATENCY_RATIO.sub("<ratio>x the single-row", value)
    return value


def pinned(value: Any) -> Any:
    """``value`` with every machine-measured number set to one constant (for the card)."""
    if isinstance(value, dict):
        return {
            k: (_pin(v) if k in MACHINE_KEYS - {"files", "path"} else pinned(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [pinned(v) for v in value]
    return value


def _pin(value: Any) -> Any:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):  # a count stays a whole number, as the typed evidence wants
        return 1
    if isinstance(value, float):
        return 1.0
    if isinstance(value, str):
        return "2026-01-01T00:00:00+00:00"
    if isinstance(value, dict):
        return {k: _pin(v) for k, v in value.items()}
    return value


def model_digests(artifact: Path) -> dict[str, str]:
    """SHA-256 of each learner file: the model's bytes."""
    return {
        str(p.relative_to(artifact)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((artifact / "learners").rglob("*"))
        if p.is_file()
    }


def card_text(markdown: str) -> str:
    return LATENCY_RATIO.sub("<ratio>x the single-row", markdown)
