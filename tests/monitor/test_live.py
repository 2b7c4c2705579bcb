"""The live test of a traffic split: the always-valid confidence sequence keeps its error
rate however often it is read, stops early on a real difference, and on a registry with a
split's labelled answers says which arm is better in loss and in business value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlwright.errors import DataError, RegistryError
from mlwright.monitor import confidence_sequence, labelled_answers, live_test
from mlwright.pipeline import train
from mlwright.registry import CHALLENGER, CHAMPION
from mlwright.spec import load_spec
from registered import NAME, new_concept, register_champion, serve_and_label
from synth import make_frame


def ever_excludes_zero(a: np.ndarray, b: np.ndarray, every: int = 10) -> int | None:
    """The first look (rows per arm) at which the sequence excludes zero, if any."""
    for k in range(every, len(a) + 1, every):
        _, low, high = confidence_sequence(a[:k], b[:k])
        if low > 0 or high < 0:
            return k
    return None


def test_reading_the_sequence_at_every_look_keeps_the_error_rate() -> None:
    rng = np.random.default_rng(0)
    runs = 300
    false = sum(
        ever_excludes_zero(rng.normal(size=1000), rng.normal(size=1000)) is not None
        for _ in range(runs)
    )
    # 100 looks each; a fixed-sample test read this often would be wrong far above 5%.
    assert false / runs <= 0.06


def test_a_real_difference_is_found_and_the_test_stops_early() -> None:
    rng = np.random.default_rng(1)
    stops = [
        ever_excludes_zero(rng.normal(0.0, 1.0, 2000), rng.normal(0.3, 1.0, 2000))
        for _ in range(50)
    ]
    assert all(k is not None for k in stops)
    assert float(np.median([k for k in stops if k is not None])) < 600


VALUE = "[value]\ntp = 150.0\nfp = -50.0\n"


@pytest.fixture(params=["", VALUE], ids=["no value", "value"])
def split(workdir: Path, request: pytest.FixtureRequest) -> str:
    """Champion v1 and a challenger v2 that learned the new concept; a split's traffic
    labelled by the new concept: 300 answers from each (specs with or without the business
    value of decisions)."""
    register_champion(workdir, request.param)
    fresh = new_concept(make_frame("binary", n=1500, seed=3))
    fresh.write_csv(workdir / "train.csv")
    spec = load_spec(workdir / "spec.toml")
    assert train(spec, register=True).registration.alias == CHALLENGER  # type: ignore[union-attr]
    traffic = new_concept(make_frame("binary", n=600, seed=8))
    serve_and_label(workdir, traffic[:300], 300, 1, alias=CHAMPION)
    return serve_and_label(workdir, traffic[300:], 300, 1, alias=CHALLENGER)


def test_the_split_says_the_challenger_is_better_and_when_it_became_clear(split: str) -> None:
    result = live_test(NAME, split)
    assert (result.champion_rows, result.challenger_rows) == (300, 300)
    loss = result.measures[0]
    assert loss.name == "log loss"
    assert loss.decided == "challenger"
    assert loss.high < 0
    assert loss.decided_at is not None
    assert result.wins
    assert "the test can stop" in result.verdict
    result.to_dict()


def test_a_split_needs_both_arms_labelled(workdir: Path) -> None:
    register_champion(workdir)
    with pytest.raises(RegistryError, match="has no challenger alias for a live test"):
        live_test(NAME, f"sqlite:///{workdir / 'log.db'}")
    train(load_spec(workdir / "spec.toml"), register=True)
    log = serve_and_label(workdir, make_frame("binary", n=40, seed=2), 40, 1)
    with pytest.raises(DataError, match="0 from the challenger"):
        live_test(NAME, log)


def test_business_value_is_a_second_measure_when_the_spec_states_it(
    split: str, request: pytest.FixtureRequest
) -> None:
    result = live_test(NAME, split)
    stated = request.node.callspec.params["split"] == VALUE
    assert [m.name for m in result.measures] == (
        ["log loss", "value per decision"] if stated else ["log loss"]
    )
    if not stated:
        return
    value = result.measures[1]
    answers = labelled_answers(split, NAME)
    worth = {("yes", "yes"): 150.0, ("no", "yes"): -50.0}  # (truth, decision); the rest 0
    champion = [
        worth.get((a.label, a.outputs["prediction"]), 0.0)
        for a in answers
        if a.model_version == result.champion_version
    ]
    assert value.champion_mean == pytest.approx(float(np.mean(champion)))
    assert value.better == "higher"


def test_the_commands_judge_the_split_and_promote_on_it(split: str, workdir: Path) -> None:
    from clirun import mlwright

    judged = mlwright("compare", NAME, "--log", split, "--live", cwd=workdir)
    assert judged.code == 0, str(judged)
    assert "the challenger (version 2) is better" in judged.stdout
    promoted = mlwright("promote", NAME, "--log", split, "--live", cwd=workdir)
    assert promoted.code == 0, str(promoted)
    assert "promoted: loop version 2 is the champion (was 1)" in promoted.stdout
    from mlwright.registry import aliases

    assert aliases(NAME) == {CHAMPION: "2"}
