"""Run untrusted native files in a child process first.

A native library that reads a damaged or hostile model file may crash the process (a
segmentation fault, an abort) instead of raising. Where mlwright cannot check a format in
Python (CatBoost's ``.cbm``), the file is loaded and scored in a fresh child process
first, and only a file the child survived is loaded here. ``run_child`` is also how
``mlwright.artifact.load_in_child`` checks a whole artifact.

As a child (``child_main``: REPORT FAMILY DIRECTORY INFO_JSON) it loads one learner from
its files and scores a few rows through every prediction path.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlwright.errors import ArtifactError, MlwrightError

#: Set in every child ``run_child`` starts: the child is itself the isolation, so it does
#: not start children of its own.
CHILD_ENV = "MLWRIGHT_ISOLATED_CHILD"
PROBE_TIMEOUT = 120.0
# Imported rather than run with -m, which warns when the package already imported it.
_ENTRY = "import sys; from {module} import child_main; sys.exit(child_main(sys.argv[1:]))"
_PASSED: set[str] = set()  # digests of files a child has loaded and scored in this process
# Files this run wrote itself (the search's fold models, in its private work folder) are not
# untrusted input: loading them needs no child and no check. The search loads every fold of
# every trial several times (measuring, choosing, the holdout): checking LightGBM's text and
# XGBoost's UBJSON in Python each time took 4-5x the time of those steps on hotel_rates.
_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("trusted_files", default=False)


@contextlib.contextmanager
def trusted_files() -> Iterator[None]:
    """Within it, files are this very run's own: ``probe_file`` starts no child and the
    learners skip their checks of native files (``files_trusted``)."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def files_trusted() -> bool:
    """Whether the files being loaded are this run's own (inside ``trusted_files``)."""
    return _TRUSTED.get()


def in_child() -> bool:
    """Whether this process is a child started by ``run_child``."""
    return os.environ.get(CHILD_ENV) == "1"


@dataclass(frozen=True)
class ChildEnd:
    """How a child ended: ``ok``, else ``how`` (a signal's name, an exit code or a time
    out, with the end of its error output) and the ``error`` it reported, if any."""

    ok: bool
    how: str = ""
    error: Mapping[str, Any] | None = None


def run_child(module: str, args: Sequence[str], *, timeout: float) -> ChildEnd:
    """Run ``module.child_main([REPORT, *args])`` in a fresh interpreter (never a fork:
    the caller may hold threads) and say how it ended. The child writes the MlwrightError
    that stopped it, as JSON, to the file REPORT (see ``report_error``)."""
    with tempfile.TemporaryDirectory(prefix="mlwright-child-") as tmp:
        report = Path(tmp) / "report.json"
        try:
            done = subprocess.run(
                [sys.executable, "-c", _ENTRY.format(module=module), str(report), *args],
                env={**os.environ, CHILD_ENV: "1"},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ChildEnd(False, f"did not finish within {timeout:g} s and was killed")
        if done.returncode == 0:
            return ChildEnd(True)
        error = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else None
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        how = f"was killed by {name}"
    else:
        how = f"exited with code {done.returncode}"
    tail = done.stderr.decode("utf-8", "replace").strip()[-400:]
    return ChildEnd(False, f"{how}{': ' + tail if tail and error is None else ''}", error)


def report_error(report: str | Path, exc: MlwrightError) -> None:
    """In a child: write the error that stopped it for ``run_child``'s caller."""
    Path(report).write_text(
        json.dumps({"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}),
        encoding="utf-8",
    )


def probe_file(
    family: str, directory: Path, file: str, meta: Mapping[str, Any], task: Mapping[str, Any]
) -> None:
    """Load the ``family`` learner in ``directory`` and score rows with it in a child
    process, unless this process is such a child or this very file passed already; an
    ``ArtifactError`` naming ``file`` when the child does not survive it."""
    if in_child() or files_trusted():
        return
    info = {"family": family, "params": {}, "seed": 0, "task": dict(task), "meta": dict(meta)}
    digest = hashlib.sha256((directory / file).read_bytes())
    digest.update(json.dumps(info, sort_keys=True).encode())
    if digest.hexdigest() in _PASSED:
        return
    end = run_child(
        "mlwright.learners._probe",
        [family, str(directory), json.dumps(info)],
        timeout=PROBE_TIMEOUT,
    )
    if not end.ok:
        said = f": {end.error['message']}" if end.error else ""
        raise ArtifactError(
            f"the {family} model file {directory / file} crashed or failed a child process "
            f"that loaded it first (it {end.how}{said})",
            field=str(directory / file),
            hint="the file is damaged or hostile; do not load it. Fetch the artifact again "
            "or retrain",
        )
    _PASSED.add(digest.hexdigest())


def exercise(learner: Any, n_features: int) -> None:
    """Score rows of missing, zero, positive and negative values through the batch, the
    one-row and the contributions paths."""
    rows = np.array([[np.nan], [0.0], [1.0], [-1.0], [1e6]]) * np.ones((1, n_features))
    learner.predict(rows)
    for row in rows:
        learner.predict_one(list(row))
    learner.contributions(rows)


def child_main(argv: Sequence[str]) -> int:
    """The probe child: load one learner and score rows with it; 0 when it survived."""
    from mlwright.learners import learner_class

    report, family, directory, info_text = argv
    info = json.loads(info_text)
    try:
        learner = learner_class(family).from_files(Path(directory), info)
        exercise(learner, int(info["meta"]["n_features"]))
    except MlwrightError as exc:
        report_error(report, exc)
        return exc.exit_code
    return 0
