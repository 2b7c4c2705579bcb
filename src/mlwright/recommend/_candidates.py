"""Candidates and their features: what the ranker sees for each (user, item) pair.

For a batch of histories every generator scores the whole catalogue; each generator's top
``depth`` items (history and excluded items removed) join the user's candidate pool. A
candidate's features are each generator's score, its score over the user's best score, and
its rank in that generator's list; the item's popularity, recent popularity and age; the
user's history length and how popular the user's items are; and, from item features,
numbers and how much of the user's history shares the candidate's categories or tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from mlwright.recommend._generators import Generator, ragged
from mlwright.recommend._interactions import Interactions

RANK_DEPTH = 200  # ranks past this many are reported as this many + 1
_RECENT_SHARE = 0.1  # "recent" = the newest 10% of the training period
# Generators score from a user's latest HISTORY_LIMIT distinct items: a 2,000-item history
# costs EASE 2,000 weight rows per answer (a p99 of 12 ms on movielens) and finds no more
# (NDCG@10 of EASE alone 0.1660 from the latest 200 against 0.1678 from all; ALS 0.1645
# against 0.1594). Every item of the history is still never recommended.
HISTORY_LIMIT = 200
_PARTS = {"scorer": ("score", "relative", "rank"), "popularity": ("relative", "rank")}


@dataclass
class ItemStats:
    """Per-item facts from the training rows, used as ranker features."""

    users: np.ndarray  # distinct training users per item
    recent: np.ndarray  # share of the item's rows in the newest 10% of the period
    first_days: np.ndarray  # days from the item's first row to the newest row
    last_days: np.ndarray  # days from the item's last row to the newest row
    mean_weight: np.ndarray  # mean weight (rating) of the item's rows; NaN without rows
    n_train_users: int

    @classmethod
    def from_rows(cls, data: Interactions) -> ItemStats:
        n = data.n_items
        pairs = np.unique(data.users.astype(np.int64) * n + data.items)
        users = np.bincount(pairs % n, minlength=n).astype(np.float64)
        newest, oldest = float(data.times.max()), float(data.times.min())
        cut = newest - _RECENT_SHARE * (newest - oldest)
        rows = np.bincount(data.items, minlength=n).astype(np.float64)
        recent_rows = np.bincount(data.items[data.times >= cut], minlength=n)
        first = np.full(n, np.nan)
        last = np.full(n, np.nan)
        np.fmin.at(first, data.items, data.times)
        np.fmax.at(last, data.items, data.times)
        weight_sum = np.bincount(data.items, weights=data.weights, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return cls(
                users=users,
                recent=np.where(rows > 0, recent_rows / rows, 0.0),
                first_days=(newest - first) / 86400.0,
                last_days=(newest - last) / 86400.0,
                mean_weight=np.where(rows > 0, weight_sum / rows, np.nan),
                n_train_users=len(np.unique(data.users)),
            )

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "users": self.users,
            "recent": self.recent,
            "first_days": self.first_days,
            "last_days": self.last_days,
            "mean_weight": self.mean_weight,
            "n_train_users": np.asarray([self.n_train_users]),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ItemStats:
        return cls(
            users=arrays["users"],
            recent=arrays["recent"],
            first_days=arrays["first_days"],
            last_days=arrays["last_days"],
            mean_weight=arrays["mean_weight"],
            n_train_users=int(arrays["n_train_users"][0]),
        )

    @property
    def log_share(self) -> np.ndarray:
        return np.log((self.users + 1.0) / (self.n_train_users + 1.0))


def _first_rows(
    frame: pl.DataFrame, key: str, ids: np.ndarray
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """``frame``'s first row per ``key``, each row's code among ``ids`` (-1: not among
    them) and whether it has one: how a feature table is lined up with the model's ids."""
    from mlwright.recommend._interactions import id_index

    first = frame.unique(subset=[key], keep="first", maintain_order=True)
    index = id_index(ids)
    keys = first[key].to_list()
    codes = np.asarray([index.get(k, index.get(str(k), -1)) for k in keys], dtype=np.int64)
    return first, codes, codes >= 0


@dataclass
class ItemFeatures:
    """Item feature columns, aligned to item codes: numbers as they are, and categories or
    tags (text split on ``|``) as a sparse items x tokens matrix per column."""

    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    tags: dict[str, sp.csr_matrix] = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls, frame: pl.DataFrame, item: str, columns: Sequence[str], item_ids: np.ndarray
    ) -> ItemFeatures:
        """One row per item of ``frame`` (the first when an item repeats); items without a
        row get NaN and no tags."""
        first, codes, known = _first_rows(frame, item, item_ids)
        out = cls()
        n = len(item_ids)
        for name in columns:
            column = first[name]
            if column.dtype.is_numeric():
                values = np.full(n, np.nan)
                values[codes[known]] = column.cast(pl.Float64).to_numpy()[known]
                out.numeric[name] = values
                continue
            texts = column.cast(pl.String).to_list()
            vocabulary: dict[str, int] = {}
            rows, cols = [], []
            for code, text in zip(codes, texts, strict=True):
                if code < 0 or text is None:
                    continue
                for token in {t.strip() for t in str(text).split("|") if t.strip()}:
                    rows.append(code)
                    cols.append(vocabulary.setdefault(token, len(vocabulary)))
            out.tags[name] = sp.csr_matrix(
                (np.ones(len(rows), np.float32), (rows, cols)), shape=(n, max(len(vocabulary), 1))
            )
        return out

    @property
    def names(self) -> list[str]:
        numeric = [f"item.{c}" for c in self.numeric] + [f"item.{c}-history" for c in self.numeric]
        return numeric + [f"history_share.{c}" for c in self.tags]

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {f"numeric.{k}": v for k, v in self.numeric.items()}
        for name, m in self.tags.items():
            out[f"tags.{name}.indices"] = m.indices.astype(np.int32)
            out[f"tags.{name}.indptr"] = m.indptr.astype(np.int64)
            out[f"tags.{name}.shape"] = np.asarray(m.shape, dtype=np.int64)
        return out

    @classmethod
    def from_arrays(
        cls, numeric: Sequence[str], tags: Sequence[str], arrays: Mapping[str, np.ndarray]
    ) -> ItemFeatures:
        out = cls()
        for name in numeric:
            out.numeric[name] = np.asarray(arrays[f"numeric.{name}"], dtype=np.float64)
        for name in tags:
            indices = arrays[f"tags.{name}.indices"]
            shape = tuple(int(v) for v in arrays[f"tags.{name}.shape"])
            out.tags[name] = sp.csr_matrix(
                (np.ones(len(indices), np.float32), indices, arrays[f"tags.{name}.indptr"]),
                shape=shape,
            )
        return out


@dataclass
class UserFeatures:
    """User feature columns aligned to user codes, as numbers: numeric columns as they
    are, any other column as the code of its value (the order of first appearance; trees
    split on codes as on levels). A user without a row, or unknown, has NaN."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls, frame: pl.DataFrame, user: str, columns: Sequence[str], user_ids: np.ndarray
    ) -> UserFeatures:
        first, codes, known = _first_rows(frame, user, user_ids)
        out = cls()
        for name in columns:
            column = first[name]
            if column.dtype.is_numeric():
                values = column.cast(pl.Float64).to_numpy()
            else:
                text = column.cast(pl.String)
                levels = {v: i for i, v in enumerate(text.drop_nulls().unique(maintain_order=True))}
                values = np.asarray(
                    [np.nan if v is None else float(levels[v]) for v in text.to_list()]
                )
            aligned = np.full(len(user_ids), np.nan)
            aligned[codes[known]] = values[known]
            out.columns[name] = aligned
        return out

    @property
    def names(self) -> list[str]:
        return [f"user.{c}" for c in self.columns]

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"user_features.{k}": v for k, v in self.columns.items()}

    @classmethod
    def from_arrays(cls, names: Sequence[str], arrays: Mapping[str, np.ndarray]) -> UserFeatures:
        return cls({n: np.asarray(arrays[f"user_features.{n}"], dtype=np.float64) for n in names})

    def row(self, code: int) -> list[float]:
        if code < 0:
            return [float("nan")] * len(self.columns)
        return [float(values[code]) for values in self.columns.values()]


@dataclass
class Candidates:
    """A batch's candidates: ``users[j]`` (batch position) may get ``items[j]``; rows are
    grouped by user, and ``X`` holds their features."""

    users: np.ndarray
    items: np.ndarray
    X: np.ndarray
    names: list[str]

    def labels(self, relevant: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros(len(self.items), dtype=np.float64)
        bounds = np.searchsorted(self.users, np.arange(len(relevant) + 1))
        for u, rel in enumerate(relevant):
            rows = slice(bounds[u], bounds[u + 1])
            out[rows] = np.isin(self.items[rows], rel)
        return out


def latest_distinct(history: np.ndarray, limit: int) -> np.ndarray:
    """The last ``limit`` distinct items of a time-ordered history, oldest first."""
    if len(history) <= limit and len(np.unique(history)) == len(history):
        return history
    backwards = history[::-1]
    _, first = np.unique(backwards, return_index=True)
    return np.asarray(backwards[np.sort(first)][:limit][::-1])


def _ordered_top(scores: np.ndarray, depth: int) -> np.ndarray:
    """The ``depth`` best finite-or-not items of ``scores``, best first (ties by index)."""
    depth = min(depth, len(scores))
    negated = -scores  # selecting the smallest of -scores is several times faster here
    top = np.argpartition(negated, depth - 1)[:depth]
    return top[np.lexsort((top, negated[top]))]


@dataclass(frozen=True)
class FeatureSources:
    """What a candidate's features read besides the generators' scores: the items' facts
    from the training rows, and the item and user feature columns when there are any."""

    stats: ItemStats
    item_features: ItemFeatures | None = None
    user_features: UserFeatures | None = None


def _feature_names(generators: Mapping[str, Generator], sources: FeatureSources) -> list[str]:
    # Popularity's raw score (a count) and the items' absolute ages grow with the rows a fit
    # saw, so they would differ between the ranker's training windows and the final fit:
    # they enter as shares, ranks and differences from the user's history instead.
    names = [
        f"{kind}.{part}"
        for kind in generators
        for part in _PARTS["popularity" if kind == "popularity" else "scorer"]
    ]
    names += ["item.log_users", "item.recent"]
    names += ["item.mean_weight", "user.history", "user.log_users_mean", "item-user.log_users"]
    names += ["item-user.first_days", "item-user.last_days"]
    if sources.item_features is not None:
        names += sources.item_features.names
    if sources.user_features is not None:
        names += sources.user_features.names
    return names


def build_candidates(
    generators: Mapping[str, Generator],
    histories: list[np.ndarray],
    sources: FeatureSources,
    *,
    depth: int,
    allowed: np.ndarray,
    exclude: Sequence[np.ndarray] | None = None,
    users: Sequence[int] | np.ndarray | None = None,
) -> Candidates:
    """Pool each generator's top ``depth`` allowed items per history and describe them.
    ``allowed`` masks the catalogue (items the model may recommend); ``exclude[u]`` removes
    items for one user (the history is always removed). ``users[u]`` is history u's user
    code (-1: unknown), for ``sources.user_features``."""
    n_items = len(allowed)
    names = _feature_names(generators, sources)
    log_share = sources.stats.log_share
    users_out: list[np.ndarray] = []
    items_out: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for u, history in enumerate(histories):
        mask = allowed.copy()
        valid = history[(history >= 0) & (history < n_items)]
        known = np.unique(valid)
        recent = latest_distinct(valid, HISTORY_LIMIT)
        mask[known] = False
        if exclude is not None and len(exclude[u]):
            mask[exclude[u]] = False
        if not mask.any():
            continue
        pool, ranked = _pool(generators, recent, mask, depth)
        if len(pool) == 0:
            continue
        columns = _score_columns(ranked, pool, n_items)
        columns += _item_columns(sources.stats, log_share, known, pool)
        if sources.item_features is not None:
            columns += _item_feature_columns(sources.item_features, known, pool)
        if sources.user_features is not None:
            code = -1 if users is None else int(users[u])
            columns += [np.full(len(pool), v) for v in sources.user_features.row(code)]
        users_out.append(np.full(len(pool), u, dtype=np.int64))
        items_out.append(pool)
        blocks.append(np.column_stack(columns))
    if not blocks:
        return Candidates(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(names))), names
        )
    return Candidates(
        np.concatenate(users_out), np.concatenate(items_out), np.vstack(blocks), names
    )


def _pool(
    generators: Mapping[str, Generator], recent: np.ndarray, mask: np.ndarray, depth: int
) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """One user's pool (each generator's top ``depth`` items that ``mask`` allows), and per
    generator its masked scores and the order of its best items."""
    available = int(mask.sum())
    pool_parts = []
    ranked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, generator in generators.items():
        s = np.where(mask, generator.score_one(recent), -np.inf)
        # One partial sort gives both the pool (the top `depth`) and the ranks.
        order = _ordered_top(s, max(depth, RANK_DEPTH))
        ranked[name] = (s, order)
        pool_parts.append(order[: min(depth, available)])
    pool = np.unique(np.concatenate(pool_parts))
    return pool[mask[pool]], ranked


def _score_columns(
    ranked: Mapping[str, tuple[np.ndarray, np.ndarray]], pool: np.ndarray, n_items: int
) -> list[np.ndarray]:
    """Per generator: the score (not popularity's count), the score over the user's best,
    and the rank in its list."""
    columns = []
    for name, (s, order) in ranked.items():
        value = s[pool]
        best = s[order[0]]
        if name != "popularity":
            columns.append(value)
        columns.append(value / best if np.isfinite(best) and best > 0 else np.zeros(len(pool)))
        position = np.full(n_items, RANK_DEPTH + 1, dtype=np.float64)
        top = order[:RANK_DEPTH]
        position[top] = np.arange(1, len(top) + 1)
        columns.append(position[pool])
    return columns


def _item_columns(
    stats: ItemStats, log_share: np.ndarray, known: np.ndarray, pool: np.ndarray
) -> list[np.ndarray]:
    """The candidates' popularity, recency and weight, the user's history length and
    popularity, and the candidates' popularity and age against the history's."""
    history_share = log_share[known].mean() if len(known) else np.nan
    return [
        log_share[pool],
        stats.recent[pool],
        stats.mean_weight[pool],
        np.full(len(pool), float(len(known))),
        np.full(len(pool), history_share),
        log_share[pool] - history_share,
        stats.first_days[pool] - _mean(stats.first_days[known]),
        stats.last_days[pool] - _mean(stats.last_days[known]),
    ]


def _mean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def _item_feature_columns(
    features: ItemFeatures, history: np.ndarray, pool: np.ndarray
) -> list[np.ndarray]:
    columns: list[np.ndarray] = []
    for values in features.numeric.values():
        columns.append(values[pool])
    for values in features.numeric.values():
        seen = values[history] if len(history) else np.zeros(0)
        seen = seen[np.isfinite(seen)]
        centre = seen.mean() if len(seen) else np.nan
        columns.append(values[pool] - centre)
    for tags in features.tags.values():
        # Share of the history carrying each tag, then each candidate's mean over its tags.
        seen, _ = ragged(tags.indptr, history)
        profile = np.bincount(tags.indices[seen], minlength=tags.shape[1]) / max(len(history), 1)
        positions, owner = ragged(tags.indptr, pool)
        total = np.bincount(owner, weights=profile[tags.indices[positions]], minlength=len(pool))
        counts = tags.indptr[pool + 1] - tags.indptr[pool]
        with np.errstate(invalid="ignore", divide="ignore"):
            columns.append(np.where(counts > 0, total / counts, np.nan))
    return columns


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest finite scores, best first (fewer when fewer are finite)."""
    finite = np.isfinite(scores)
    k = min(k, int(finite.sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-np.where(finite, scores, -np.inf), k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]
