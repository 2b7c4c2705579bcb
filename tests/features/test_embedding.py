"""The text embedding: WordLlama's bundled token embeddings pooled per text, the same in
batch and for one record, kept beside the TF-IDF only where it predicts the target, and
refused at load when the installed weights are not the trained ones."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.errors import ArtifactError
from mlwright.features import FeaturePlan, PlanSettings
from mlwright.features._embedding import MAX_TOKENS, TextEmbedding
from synth import assert_bitwise_equal

GOOD = ["great", "delicious", "tasty", "lovely", "fresh", "perfect", "wonderful"]
BAD = ["awful", "stale", "broken", "rotten", "terrible", "bland", "disgusting"]
FILLER = ["the", "coffee", "box", "was", "really", "and", "arrived", "today"]


def reviews(n: int, seed: int, *, signal: bool) -> tuple[pl.DataFrame, np.ndarray]:
    """Short texts; with ``signal`` their sentiment words give the label, else the label is
    a coin toss."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = []
    for label in y:
        words = list(rng.choice(FILLER, 4))
        mood = (GOOD if label else BAD) if signal else (GOOD if rng.random() < 0.5 else BAD)
        words += list(rng.choice(mood, 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
    return pl.DataFrame({"t": texts}), y


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), min_size=1, max_size=8))
def test_batch_and_one_record_embeddings_agree_bitwise(texts: list[str | None]) -> None:
    embedding = TextEmbedding.fit("t", 8)
    batch = embedding.batch(pl.Series("t", texts, dtype=pl.String))
    single: list[float] = []
    for text in texts:
        embedding.one(text, single)
    assert_bitwise_equal(batch, np.asarray(single, dtype=np.float64).reshape(batch.shape))


def test_the_embedding_is_kept_where_the_text_predicts_the_target() -> None:
    data, y = reviews(300, seed=0, signal=True)
    knobs = PlanSettings(text_buckets=16, text_embedding_dims=64)
    plan = FeaturePlan([("t", "text")], "tree", n_classes=2, settings=knobs).fit(data, y)
    names = plan.feature_names
    assert names[:16] == [f"t__tfidf{i}" for i in range(16)]
    assert names[16:] == [f"t__emb{i}" for i in range(64)]
    # Plain data: the plan survives JSON and gives the same outputs.
    again = FeaturePlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert_bitwise_equal(plan.transform(data), again.transform(data))


def test_the_embedding_is_left_out_where_the_text_is_noise_to_the_target() -> None:
    data, y = reviews(300, seed=0, signal=False)
    knobs = PlanSettings(text_buckets=16, text_embedding_dims=64)
    plan = FeaturePlan([("t", "text")], "tree", n_classes=2, settings=knobs).fit(data, y)
    assert plan.feature_names == [f"t__tfidf{i}" for i in range(16)]
    unlabelled = FeaturePlan([("t", "text")], "tree", settings=knobs).fit(data)
    assert unlabelled.feature_names == plan.feature_names  # no target: no evidence


def test_like_texts_embed_near_each_other_and_a_missing_text_as_zeros() -> None:
    texts = ["the food was delicious", "a tasty meal, loved the dinner", "the invoice is overdue"]
    embedding = TextEmbedding.fit("t", 64)
    emb = embedding.batch(pl.Series("t", [*texts, None, ""]))
    assert np.allclose(np.linalg.norm(emb[:3], axis=1), 1.0)
    assert not emb[3:].any()
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_a_text_embedding_whose_weights_differ_is_refused_at_load() -> None:
    data, y = reviews(300, seed=0, signal=True)
    knobs = PlanSettings(text_embedding_dims=8)
    saved = FeaturePlan([("t", "text")], "tree", n_classes=2, settings=knobs).fit(data, y).to_dict()
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


def test_a_batch_embeds_each_text_once_and_the_cache_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlwright.features import _embedding

    embedding = TextEmbedding.fit("text", dims=8)
    texts = pl.Series("text", [f"review number {i} was fine" for i in range(30)])
    monkeypatch.setattr(_embedding, "_POOLED", _embedding.OrderedDict())
    monkeypatch.setattr(_embedding, "POOLED_TEXTS", 20)
    encoded: list[str] = []
    ids = TextEmbedding._ids

    def counted(self: TextEmbedding, text: str | None) -> list[int]:
        encoded.append(str(text))
        return ids(self, text)

    monkeypatch.setattr(TextEmbedding, "_ids", counted)
    first = embedding.batch(texts)
    assert len(encoded) == 30
    assert len(_embedding._POOLED) == 20  # the most recent texts only
    # Another fold's plan (a new transform) reads the cache: the last 20 texts are not
    # encoded again, the 10 that left it are; the vectors are the same to the last bit.
    again = TextEmbedding.fit("text", dims=8).batch(texts[::-1])
    assert len(encoded) == 40
    assert_bitwise_equal(again[::-1], first)
    # One record never reads nor fills it.
    out: list[float] = []
    embedding.one("a text served once", out)
    assert "a text served once" not in {k[2] for k in _embedding._POOLED}
    assert_bitwise_equal(
        np.asarray(out), embedding.batch(pl.Series("text", ["a text served once"]))[0]
    )
