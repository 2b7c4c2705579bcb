"""The text embedding: WordLlama's bundled token embeddings, pooled per text, beside the
TF-IDF in a plan, and refused at load when the installed weights are not the trained ones.
(Batch and single-record agreement is the plan's property test, tests/features/test_plan.py.)"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mlwright.errors import ArtifactError
from mlwright.features import FeaturePlan, PlanSettings
from mlwright.features._embedding import MAX_TOKENS, TextEmbedding


def test_text_embedding_sits_beside_the_tfidf_and_places_like_texts_together() -> None:
    texts = [
        "the food was delicious",
        "a tasty meal, loved the dinner",
        "the invoice is overdue",
        None,
    ]
    settings_ = PlanSettings(text_buckets=16, text_embedding_dims=64)
    plan = FeaturePlan([("t", "text")], "tree", settings=settings_).fit(pl.DataFrame({"t": texts}))
    names = plan.feature_names
    assert names[:16] == [f"t__tfidf{i}" for i in range(16)]
    assert names[16:] == [f"t__emb{i}" for i in range(64)]
    emb = plan.transform(pl.DataFrame({"t": texts}))[:, 16:]
    assert np.allclose(np.linalg.norm(emb[:3], axis=1), 1.0)
    assert not emb[3].any()  # a missing text embeds as zeros
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_a_text_embedding_whose_weights_differ_is_refused_at_load() -> None:
    plan = FeaturePlan([("t", "text")], "tree", settings=PlanSettings(text_embedding_dims=8)).fit(
        pl.DataFrame({"t": ["a b", "c d"]})
    )
    saved = plan.to_dict()
    [embedding] = [t for t in saved["transforms"] if t["kind"] == "embedding"]
    embedding["sha256"] = "0" * 64
    with pytest.raises(ArtifactError, match="not the ones this model was trained with") as err:
        FeaturePlan.from_dict(saved)
    assert err.value.hint is not None
    assert "retrain" in err.value.hint


def test_an_unknown_embedding_is_refused_with_the_one_this_version_knows() -> None:
    with pytest.raises(ArtifactError, match="unknown text embedding") as err:
        TextEmbedding("t", embedding="other/model", dims=8, sha256="0" * 64)
    assert err.value.hint is not None
    assert "wordllama/l2_supercat_256" in err.value.hint


def test_a_long_text_is_embedded_from_its_first_tokens() -> None:
    embedding = TextEmbedding.fit("t", 16)
    head = " ".join(["good"] * MAX_TOKENS)
    series = pl.Series("t", [head, head + " terrible" * 200])
    out = embedding.batch(series)
    np.testing.assert_array_equal(out[0], out[1])
