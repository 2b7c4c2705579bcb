"""The recommender's model card: built from the evidence of a real fit and evaluation,
rendered in headless Chromium with its plots drawn and nothing fetched from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from conftest import open_page
from mlwright.recommend import (
    GENERATORS,
    FeatureSources,
    Recommender,
    Scorers,
    chosen_text,
    recommender_card,
)
from recsynth import quick_recommender


def test_the_card_shows_scores_beside_baselines_and_renders(browser: Any, tmp_path: Path) -> None:
    model = quick_recommender()
    card = recommender_card(
        model, title="shop", question="What next?", out_of_scope=["pricing"], owner="Team"
    )
    text = card.to_markdown()
    for needle in ("NDCG@10", "Recall@10", "popularity", "model - popularity", "What next?"):
        assert needle in text
    evaluation = model.metadata["evaluation"]
    ndcg = evaluation["scores"]["model"]["ndcg@10"]["value"]
    assert f"{ndcg:.4f}" in text  # the number the evaluation recorded, not another
    page = tmp_path / "card.html"
    page.write_text(card.to_html())
    problems, drawn = open_page(browser, page, "recommender_card.png")
    assert problems == []
    assert len(drawn) == 2
    for width, height, marks in drawn:
        assert width > 300
        assert height > 100
        assert marks > 10


def _with_choice(model: Recommender, chosen: str, choice: dict[str, Any]) -> Recommender:
    """``model`` as if its fit had recorded ``choice`` and chosen ``chosen`` (fitted on
    the model's rows when the model does not carry it: it ships only what it scores with)."""
    generators = dict(model.generators)
    if chosen not in generators:
        met = (model.seen > 0).astype(np.float32).tocsr()
        generators[chosen] = GENERATORS[chosen]().fit(met)
    return Recommender(
        user_ids=model.user_ids,
        item_ids=model.item_ids,
        scorers=Scorers(generators, None, chosen),
        sources=FeatureSources(model.stats, model.item_features),
        seen=model.seen,
        depth=model.depth,
        metadata={**model.metadata, "choice": {**model.metadata["choice"], **choice}},
    )


def test_a_ranker_the_budget_skipped_is_never_said_to_have_lost() -> None:
    """The movielens run that issue 17 saw: the deadline skipped the ranker (its manifest
    had ``"ranker": {}``), yet its card said the ranker did not beat EASE."""
    model = quick_recommender()
    why = "building its candidates (about 14 s) ... (a budget of about 65 s would hold them)"
    skipped = _with_choice(
        model,
        "ease",
        {
            "ranker": {"skipped": why},
            "skipped": {"ranker": why},
            "because": f"the ranker was not trained: {why}",
        },
    )
    text = recommender_card(skipped, title="shop").to_markdown()
    assert f"the ease generator alone (the ranker was not trained: {why})" in text
    assert "did not beat" not in text
    assert "cross-validation over users" not in text  # no ranker was cross-validated
    # Its details say what it scores with, not the ranker's candidates and features.
    assert "ease scores every catalogue item from the user's history" in text
    assert "Candidates: the top" not in text
    assert why in chosen_text(skipped)
    # An artifact written before fits said why: only what its record shows.
    older = _with_choice(model, "ease", {"ranker": {}, "because": "", "skipped": {}})
    assert chosen_text(older) == "the ease generator alone (the ranker was not trained)"
    assert "did not beat" not in recommender_card(older, title="shop").to_markdown()


def test_a_ranker_that_lost_is_said_to_have_lost_with_the_numbers() -> None:
    model = quick_recommender()
    lost = _with_choice(
        model,
        "item_knn",
        {
            "ranker": {"objective": "binary", "trees": 50, "cv_ndcg": 0.2,
                       "cv_ndcg_by_objective": {"binary": 0.2}},
            "because": "the ranker did not beat it: cross-validated NDCG@10 0.2000 against "
            "the best generator alone, item_knn 0.2500, on validation users",
            "skipped": {},
        },
    )  # fmt: skip
    text = recommender_card(lost, title="shop").to_markdown()
    assert "the item_knn generator alone (the ranker did not beat it: cross-validated" in text
    assert "not trained" not in text
