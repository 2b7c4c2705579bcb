"""The recommender's model card: built from the evidence of a real fit and evaluation,
rendered in headless Chromium with its plots drawn and nothing fetched from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import open_page
from mlwright.recommend import recommender_card
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
