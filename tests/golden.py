"""The golden run: the bundled churn example with a fixed seed and ``max_trials``.

A refactor of the main job must leave its model bit-identical, its metrics equal and its
card text the same. What a run measures of the machine (latencies, durations, the time of
day) is left out of the comparison; everything else is compared exactly.

To write a new golden file, when a change is meant to alter the result, run
``MLWRIGHT_WRITE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
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

# The golden run's process computes with the x86-64-v3 (AVX2) code paths on every machine:
# NumPy's runtime dispatch and OpenBLAS's kernels otherwise pick AVX-512 where the CPU has
# it, and the linear learner's coefficients then differ in their last bits between CPUs.
# Its thread counts are pinned too, whatever the test worker's environment holds (a
# process-pool search once left OMP_NUM_THREADS=1 there): more threads sum in another
# order. All of these are read once, at import, so the run goes in a child process.
PINNED_CPU = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
RUN_IN_CHILD = """
import json
import sys
from pathlib import Path

from mlwright.learners._portfolio import use_portfolio
from mlwright.pipeline import train
from mlwright.spec import load_spec, with_overrides

spec_path, out_dir, overrides = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
with use_portfolio(None):  # the hand-written configurations, as tests/conftest.py pins
    result = train(with_overrides(load_spec(spec_path), overrides), save=True,
                   register=False, out_dir=out_dir)
print(result.artifact_dir)
"""


def train_golden(workdir: Path) -> Path:
    """Train the golden run in a child process with the pinned CPU paths; its artifact."""
    env = {**os.environ, **PINNED_CPU}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_IN_CHILD,
            str(SPEC),
            str(workdir / "churn"),
            json.dumps(OVERRIDES),
        ],
        cwd=workdir,  # the run's work folder (.mlwright/runs) goes there
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"the golden run failed:\n{done.stderr[-4000:]}")
    return workdir / done.stdout.strip().splitlines()[-1]  # relative to the child's cwd


# Keys whose values measure the machine, not the model.
MACHINE_KEYS = frozenset(
    {
        "created_at",
        "timings",
        "latency",
        "p50_us",
        "p99_us",
        "fit_seconds",
        "refit_seconds",
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
# The libraries' versions the run recorded: facts of the installation, not of the model (a
# fresh install takes each library's newest release; the model's files and numbers above
# pin what a new release may change).
LIBRARIES = "libraries"
VERSION = "<version>"


def _versions_masked(libraries: dict[str, Any]) -> dict[str, str]:
    return dict.fromkeys(libraries, VERSION)


def without_machine(value: Any) -> Any:
    """``value`` with every machine-measured key dropped, latency ratios and library
    versions masked."""
    if isinstance(value, dict):
        return {
            k: _versions_masked(v) if k == LIBRARIES else without_machine(v)
            for k, v in value.items()
            if k not in MACHINE_KEYS
        }
    if isinstance(value, list):
        return [without_machine(v) for v in value]
    if isinstance(value, str):
        return LATENCY_RATIO.sub("<ratio>x the single-row", value)
    return value


def pinned(value: Any) -> Any:
    """``value`` with every machine-measured number set to one constant and library versions
    masked (for the card)."""
    if isinstance(value, dict):
        return {
            k: (
                _pin(v)
                if k in MACHINE_KEYS - {"files", "path"}
                else _versions_masked(v)
                if k == LIBRARIES
                else pinned(v)
            )
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
