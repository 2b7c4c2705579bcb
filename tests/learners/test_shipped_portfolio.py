"""The learned portfolio that ships (src/mlwright/learners/portfolio.json, when there is
one): every configuration it lists fits its family, and the families read it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from mlwright.learners import LEARNERS, LearnerTask
from mlwright.learners._portfolio import PORTFOLIO_FILE, SHARED, use_portfolio

TASKS = {
    "binary": LearnerTask("binary", 2),
    "multiclass": LearnerTask("multiclass", 3),
    "regression": LearnerTask("regression", 0),
}


def shipped_lists() -> list[tuple[str, str, int, dict[str, Any]]]:
    """(family, list key, position, configuration) for every configuration of the file."""
    if not PORTFOLIO_FILE.exists():
        return []
    families = json.loads(PORTFOLIO_FILE.read_text())["families"]
    return [
        (family, key, i, config)
        for family, lists in families.items()
        for key, configs in lists.items()
        for i, config in enumerate(configs)
    ]


@pytest.mark.skipif(not PORTFOLIO_FILE.exists(), reason="no learned portfolio ships yet")
@pytest.mark.parametrize(
    ("family", "key", "position", "config"),
    shipped_lists(),
    ids=[f"{f}-{k}-{i}" for f, k, i, _ in shipped_lists()],
)
def test_every_shipped_configuration_fits_its_family(
    family: str, key: str, position: int, config: dict[str, Any]
) -> None:
    rng = np.random.default_rng(position)
    X = rng.normal(size=(120, 4))
    for problem_type in TASKS if key == SHARED else [key]:
        task = TASKS[problem_type]
        y = (
            X[:, 0] + rng.normal(scale=0.1, size=120)
            if problem_type == "regression"
            else np.arange(120) % task.n_classes
        )
        cls = LEARNERS[family]
        if not cls.available:
            pytest.skip(f"{family} is not installed")
        learner = cls(config, seed=0).fit(X[:100], y[:100], task, X_valid=X[100:], y_valid=y[100:])
        assert np.isfinite(learner.predict(X[:5])).all()


@pytest.mark.skipif(not PORTFOLIO_FILE.exists(), reason="no learned portfolio ships yet")
def test_the_families_start_from_the_shipped_lists() -> None:
    families = json.loads(PORTFOLIO_FILE.read_text())["families"]
    with use_portfolio(PORTFOLIO_FILE):
        for family, lists in families.items():
            for key, configs in lists.items():
                for problem_type in TASKS if key == SHARED else [key]:
                    if key == SHARED and problem_type in lists:
                        continue  # the type's own list serves it
                    got = LEARNERS[family].default_configs(TASKS[problem_type], 1000)
                    if configs:
                        assert got[0].items() >= configs[0].items()
