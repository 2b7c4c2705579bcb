"""Candidate generators against their definitions: counts, H @ similarity, EASE's closed
form, ALS fold-in equal to implicit's own user solve; state as arrays that round-trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlwright.errors import NotFittedError
from mlwright.recommend import ALS, EASE, GENERATORS, Generator, ItemKNN, Popularity
from mlwright.recommend._generators import history_matrix, spd_inverse, top_per_row

N_USERS, N_ITEMS = 60, 40


@pytest.fixture(scope="module", name="X")
def train_matrix() -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    dense = (rng.random((N_USERS, N_ITEMS)) < 0.15).astype(np.float32)
    dense[0, :] = 0.0
    dense[0, [1, 5, 9]] = 1.0
    dense[:, 7] = 0.0  # an item nobody met
    dense[3, 11] = 1.0
    return sp.csr_matrix(dense)


@pytest.fixture(scope="module", name="H")
def histories(X: sp.csr_matrix) -> sp.csr_matrix:
    """Histories to score: some training rows, an unseen history, and an empty one."""
    return history_matrix(
        [X[u].indices for u in range(8)] + [np.array([2, 3, 3, 30]), np.zeros(0, np.int64)],
        N_ITEMS,
    )


def fitted(kind: str, X: sp.csr_matrix) -> Generator:
    if kind == "popularity":
        return Popularity().fit(X)
    if kind == "item_knn":
        return ItemKNN({"neighbours": 10}).fit(X)
    if kind == "ease":
        return EASE({"l2": 10.0, "keep": 15, "min_users": 2}).fit(X)
    return ALS({"factors": 6, "l2": 0.1, "alpha": 3.0, "iterations": 4, "seed": 1}).fit(X)


KINDS = ["popularity", "item_knn", "ease", "als"]


def test_generators_are_registered_by_kind() -> None:
    assert {"popularity": Popularity, "item_knn": ItemKNN, "ease": EASE, "als": ALS} == GENERATORS


def test_history_matrix_has_distinct_known_items() -> None:
    m = history_matrix([np.array([3, 1, 3, -1, 99]), np.zeros(0, np.int64), np.array([0])], 5)
    assert m.shape == (3, 5)
    np.testing.assert_array_equal(m.toarray(), [[0, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]])
    assert history_matrix([], 4).shape == (0, 4)


def test_top_per_row_keeps_the_largest_magnitudes() -> None:
    m = np.array([[0.1, -5.0, 2.0, 0.0], [3.0, 1.0, -0.5, 4.0]])
    kept = top_per_row(m, 2).toarray()
    np.testing.assert_allclose(kept, [[0, -5.0, 2.0, 0], [3.0, 0, 0, 4.0]])
    np.testing.assert_allclose(top_per_row(m, 10).toarray(), m.astype(np.float32))


@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 40), st.integers(1, 12)), elements=st.floats(-9, 9)
    ),
    st.integers(1, 12),
    st.integers(1, 7),
)
def test_top_per_row_is_the_same_whatever_its_block(m: np.ndarray, keep: int, block: int) -> None:
    whole = top_per_row(m, keep, block=len(m))
    np.testing.assert_array_equal(top_per_row(m, keep, block=block).toarray(), whole.toarray())
    magnitudes = np.abs(m.astype(np.float32))
    for row, kept in zip(magnitudes, whole.toarray(), strict=True):
        # Every entry kept is at least as large as any left out (zeros are never stored).
        left_out = row[kept == 0]
        if (kept != 0).any() and len(left_out):
            assert np.abs(kept[kept != 0]).min() >= left_out.max() or left_out.max() == 0


def test_the_spd_inverse_is_the_inverse_written_over_its_input() -> None:
    rng = np.random.default_rng(4)
    a = rng.random((150, 150))
    p = a @ a.T + 10.0 * np.eye(150)
    expected = np.linalg.inv(p)
    work = p.copy()
    inverse = spd_inverse(work, block=32)  # blocks that do not divide the size
    assert np.shares_memory(inverse, work)
    np.testing.assert_allclose(inverse, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(inverse, inverse.T)


def test_the_spd_inverse_refuses_a_matrix_that_is_not_positive_definite() -> None:
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        spd_inverse(np.array([[1.0, 2.0], [2.0, 1.0]]))


# -- popularity ----------------------------------------------------------------------------------


def test_popularity_counts_users_per_item(X: sp.csr_matrix, H: sp.csr_matrix) -> None:
    g = Popularity().fit(X)
    expected = X.toarray().sum(axis=0)
    np.testing.assert_array_equal(g.counts_, expected)
    scores = g.scores(H)
    assert scores.shape == (H.shape[0], N_ITEMS)
    assert scores.dtype == np.float32
    for row in scores:  # the same for every history
        np.testing.assert_array_equal(row, expected)
    scores[0, 0] = -1.0  # a copy: scoring again is unchanged
    assert g.scores(H)[0, 0] == expected[0]


def test_popularity_from_rows_without_a_half_life_counts_rows() -> None:
    items = np.array([0, 2, 2, 2, 1])
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    g = Popularity({"half_life_days": None}).fit_times(items, times, 4)
    np.testing.assert_array_equal(g.counts_, [1.0, 1.0, 3.0, 0.0])


def test_popularity_weighs_rows_by_their_age() -> None:
    day = 86400.0
    items = np.array([0, 0, 1, 2, 2])
    times = np.array([0.0, 10 * day, 10 * day, 5 * day, 0.0])
    g = Popularity({"half_life_days": 5}).fit_times(items, times, 4)
    # Age from the newest row (day 10): weights 0.5 ** (age / 5).
    expected = [0.25 + 1.0, 1.0, 0.5 + 0.25, 0.0]
    np.testing.assert_allclose(g.counts_, expected, rtol=1e-6)
    assert g.counts_.dtype == np.float32


def test_time_weighted_popularity_through_fit_is_refused(X: sp.csr_matrix) -> None:
    with pytest.raises(ValueError, match="fit_times"):
        Popularity({"half_life_days": 3}).fit(X, times=np.zeros(N_USERS))


# -- item kNN ------------------------------------------------------------------------------------


@pytest.mark.parametrize("weighting", ["cosine", "bm25"])
def test_item_knn_scores_are_history_times_similarity(
    X: sp.csr_matrix, H: sp.csr_matrix, weighting: str
) -> None:
    g = ItemKNN({"neighbours": 8, "weighting": weighting}).fit(X)
    assert g.similarity_ is not None
    assert g.similarity_.shape == (N_ITEMS, N_ITEMS)
    assert np.diff(g.similarity_.indptr).max() <= 8  # at most K neighbours per item
    expected = (H @ g.similarity_).toarray()
    np.testing.assert_allclose(g.scores(H), expected, rtol=1e-6, atol=1e-7)
    assert g.scores(H).dtype == np.float32
    np.testing.assert_array_equal(g.scores(H)[-1], 0.0)  # empty history


def test_item_knn_cosine_with_every_neighbour_is_cosine_similarity(X: sp.csr_matrix) -> None:
    g = ItemKNN({"neighbours": N_ITEMS + 5, "weighting": "cosine"}).fit(X)
    assert g.similarity_ is not None
    got = g.similarity_.toarray()
    dense = X.toarray().astype(np.float64)
    norms = np.linalg.norm(dense, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.nan_to_num((dense.T @ dense) / np.outer(norms, norms))
    off = ~np.eye(N_ITEMS, dtype=bool)
    np.testing.assert_allclose(got[off], cosine[off], rtol=1e-5, atol=1e-6)


# -- EASE ----------------------------------------------------------------------------------------


def dense_ease(X: sp.csr_matrix, l2: float) -> np.ndarray:
    dense = X.toarray().astype(np.float64)
    P = np.linalg.inv(dense.T @ dense + l2 * np.eye(dense.shape[1]))
    B = np.eye(dense.shape[1]) - P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


@pytest.mark.parametrize("l2", [1.0, 25.0])
def test_ease_without_pruning_is_the_closed_form(
    X: sp.csr_matrix, H: sp.csr_matrix, l2: float
) -> None:
    g = EASE({"l2": l2, "keep": N_ITEMS, "min_users": 1}).fit(X)
    B = dense_ease(X, l2)
    assert g.weights_ is not None
    np.testing.assert_allclose(g.weights_.toarray(), B, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g.scores(H), H.toarray() @ B, rtol=1e-4, atol=1e-5)
    assert (g.weights_.diagonal() == 0).all()


def test_ease_keeps_each_items_strongest_weights(X: sp.csr_matrix) -> None:
    B = dense_ease(X, 10.0)
    g = EASE({"l2": 10.0, "keep": 5, "min_users": 1}).fit(X)
    assert g.weights_ is not None
    kept = g.weights_.toarray()
    assert np.diff(g.weights_.indptr).max() <= 5
    for i in range(N_ITEMS):
        nonzero = np.flatnonzero(kept[i])
        np.testing.assert_allclose(kept[i, nonzero], B[i, nonzero], rtol=1e-4, atol=1e-6)
        if len(nonzero):
            dropped = np.setdiff1d(np.arange(N_ITEMS), nonzero)
            assert np.abs(B[i, dropped]).max() <= np.abs(B[i, nonzero]).min() + 1e-6


def test_ease_leaves_rare_items_out(X: sp.csr_matrix) -> None:
    counts = X.toarray().sum(axis=0)
    g = EASE({"l2": 10.0, "keep": N_ITEMS, "min_users": 9}).fit(X)
    assert g.weights_ is not None
    rare = np.flatnonzero(counts < 9)
    common = np.flatnonzero(counts >= 9)
    assert len(rare)
    assert len(common) > 2
    dense = g.weights_.toarray()
    assert not dense[rare].any()
    assert not dense[:, rare].any()
    # Among the kept items: the closed form on their columns only.
    B = dense_ease(sp.csr_matrix(X.toarray()[:, common]), 10.0)
    np.testing.assert_allclose(dense[np.ix_(common, common)], B, rtol=1e-4, atol=1e-6)


def test_ease_gram_is_shared_by_fits_with_other_lambdas(X: sp.csr_matrix) -> None:
    g = EASE({"l2": 30.0, "keep": N_ITEMS, "min_users": 1})
    kept, G = g.gram(X)
    before = G.copy()
    g.fit_gram(kept, G, n_items=N_ITEMS)
    np.testing.assert_array_equal(G, before)  # not modified
    direct = EASE({"l2": 30.0, "keep": N_ITEMS, "min_users": 1}).fit(X)
    assert g.weights_ is not None
    assert direct.weights_ is not None
    np.testing.assert_array_equal(g.weights_.toarray(), direct.weights_.toarray())


# -- ALS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("l2", "alpha"), [(0.1, 3.0), (1.0, 1.0), (0.05, 10.0)])
def test_als_fold_in_matches_implicits_user_solve(
    X: sp.csr_matrix, l2: float, alpha: float
) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    g = ALS({"factors": 8, "l2": l2, "alpha": alpha, "iterations": 5, "seed": 3}).fit(X)
    assert g.item_factors_ is not None
    assert g.item_factors_.shape == (N_ITEMS, 8)
    twin = AlternatingLeastSquares(
        factors=8, regularization=l2, alpha=alpha, iterations=1, random_state=0, num_threads=1
    )
    twin.fit(X, show_progress=False)
    twin.item_factors = g.item_factors_.copy()
    twin._YtY = None  # recomputed from the item factors just set
    users = np.arange(12)
    expected = twin.recalculate_user(users, X[users])
    got = g.user_factors(X[users])
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5)
    # The scores are those factors against every item.
    np.testing.assert_allclose(
        g.scores(X[users]), expected @ g.item_factors_.T, rtol=1e-3, atol=1e-4
    )


def test_als_empty_history_scores_zero(X: sp.csr_matrix, H: sp.csr_matrix) -> None:
    g = fitted("als", X)
    assert isinstance(g, ALS)
    np.testing.assert_array_equal(g.user_factors(H)[-1], 0.0)
    np.testing.assert_array_equal(g.scores(H)[-1], 0.0)


def test_als_is_seeded(X: sp.csr_matrix) -> None:
    a = ALS({"factors": 4, "iterations": 3, "seed": 5}).fit(X)
    b = ALS({"factors": 4, "iterations": 3, "seed": 5}).fit(X)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


# -- every generator -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_arrays_round_trip_gives_identical_scores(
    X: sp.csr_matrix, H: sp.csr_matrix, kind: str
) -> None:
    g = fitted(kind, X)
    arrays = g.arrays()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
    # Through .npz without pickle, as the artifact stores them.
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as stored:
        restored = GENERATORS[kind].from_arrays(g.params, {k: stored[k] for k in stored.files})
    assert type(restored) is type(g)
    assert restored.params == g.params
    np.testing.assert_array_equal(restored.scores(H), g.scores(H))
    assert restored.describe() == g.describe()


@pytest.mark.parametrize("kind", KINDS)
def test_score_one_is_the_same_as_a_row_of_scores(
    X: sp.csr_matrix, H: sp.csr_matrix, kind: str
) -> None:
    """The serving path (one history, no matrix) gives the evaluation path's numbers, up
    to float32 rounding (a bincount sums in another order than a sparse product)."""
    g = fitted(kind, X)
    expected = g.scores(H)
    for u in range(H.shape[0]):
        items = H.indices[H.indptr[u] : H.indptr[u + 1]]
        one = g.score_one(items)
        assert one.dtype == np.float32
        np.testing.assert_allclose(one, expected[u], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_scores_have_one_float32_row_per_history(
    X: sp.csr_matrix, H: sp.csr_matrix, kind: str
) -> None:
    scores = fitted(kind, X).scores(H)
    assert scores.shape == (H.shape[0], N_ITEMS)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("kind", KINDS)
def test_an_unfitted_generator_raises(H: sp.csr_matrix, kind: str) -> None:
    g = GENERATORS[kind]()
    with pytest.raises(NotFittedError, match=f"the {kind} generator is not fitted"):
        g.scores(H)
    with pytest.raises(NotFittedError):
        g.arrays()


def test_describe_lists_the_parameters() -> None:
    assert EASE({"l2": 3.0}).describe() == "ease(keep=256, l2=3.0, min_users=2)"
    assert Popularity().describe() == "popularity()"
