"""The fitted recommender: generators, an optional ranker over their candidates, the item
facts its features need, and the histories of the users it trained on.

It answers for a user it knows (their history, plus any recent items given), for a user it
has never seen from a list of their items (fold-in, no retraining), and for a user with
neither (cold start: recent popularity). Every answer says which of these it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlwright.errors import InputError, finding_warnings
from mlwright.recommend._candidates import (
    Candidates,
    FeatureSources,
    ItemFeatures,
    ItemStats,
    UserFeatures,
    build_candidates,
    top_k,
)
from mlwright.recommend._evidence import RecommenderEvidence
from mlwright.recommend._generators import Generator, history_matrix
from mlwright.recommend._interactions import id_index

MAX_K = 1000


def _find(index: Mapping[Any, int], value: Any) -> int | None:
    """The code of an id as JSON, a query string or NumPy may spell it: 42, "42", " 42"."""
    key = value.item() if isinstance(value, np.generic) else value
    if isinstance(key, bool):
        return None
    code = index.get(key)
    if code is None and isinstance(key, str):
        code = index.get(key.strip())
    if code is None and isinstance(key, int | float) and not isinstance(key, bool):
        code = index.get(str(int(key))) if float(key).is_integer() else None
    return code


@dataclass(frozen=True)
class Recommendation:
    """One answer: item ids best first, their scores, and how it was made."""

    items: list[Any]
    scores: list[float]
    source: str  # "ranker", a generator's kind, or "popularity" for cold start
    cold_start: bool
    known_user: bool
    history_used: int
    unknown_history: list[Any] = field(default_factory=list)
    unknown_filter: list[Any] = field(default_factory=list)
    requested: int = 10

    @property
    def short_by(self) -> int:
        """How many fewer items than asked for the filters left (0 when none)."""
        return max(0, self.requested - len(self.items))

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "scores": self.scores,
            "source": self.source,
            "cold_start": self.cold_start,
            "known_user": self.known_user,
            "history_used": self.history_used,
            "unknown_history": self.unknown_history,
            "unknown_filter": self.unknown_filter,
            "short_by": self.short_by,
        }


def generator_top(
    generator: Generator, histories: list[np.ndarray], catalogue: np.ndarray, k: int
) -> np.ndarray:
    """Item codes, users x k (-1 where short): one generator alone, each history's items
    and everything outside ``catalogue`` left out."""
    out = np.full((len(histories), k), -1, dtype=np.int64)
    for start in range(0, len(histories), 256):
        batch = histories[start : start + 256]
        scores = generator.scores(history_matrix(batch, len(catalogue)))
        for j, history in enumerate(batch):
            mask = catalogue.copy()
            mask[history] = False
            top = top_k(np.where(mask, scores[j], -np.inf), k)
            out[start + j, : len(top)] = top
    return out


def _check_request(
    k: Any,
    *,
    history: Sequence[Any] | None,
    exclude: Sequence[Any] | None,
    allow: Sequence[Any] | None,
) -> None:
    """``k`` must be an integer from 1 to MAX_K, and the id lists lists (not text)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise InputError(
            f"k must be an integer from 1 to {MAX_K}, got {k!r}",
            field="k",
            hint=f"ask for 1 to {MAX_K} items",
        )
    for name, value in (("history", history), ("exclude", exclude), ("allow", allow)):
        if value is not None and (isinstance(value, str | bytes) or not hasattr(value, "__iter__")):
            raise InputError(
                f"{name} must be a list of item ids, got {type(value).__name__}",
                field=name,
                hint=f'send {name} as a list, e.g. ["item-1", "item-2"]',
            )


@dataclass(frozen=True)
class Scorers:
    """What scores items: the candidate generators by kind, the ranker over their
    candidates (None without one), and which of them recommends: 'ranker' or a kind."""

    generators: Mapping[str, Generator]
    ranker: Any | None
    chosen: str


class Recommender:
    """A recommendation model. ``recommend`` is the one call; see its docstring."""

    def __init__(
        self,
        *,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        scorers: Scorers,
        sources: FeatureSources,
        seen: sp.csr_matrix,
        depth: int,
        metadata: dict[str, Any] | None = None,
    ):
        generators, ranker, chosen = scorers.generators, scorers.ranker, scorers.chosen
        if chosen != "ranker" and chosen not in generators:
            raise ValueError(f"chosen {chosen!r} is neither 'ranker' nor a generator")
        if chosen == "ranker" and ranker is None:
            raise ValueError("chosen is 'ranker' but there is no ranker")
        self.user_ids = user_ids
        self.item_ids = item_ids
        self.generators = dict(generators)
        self.ranker = ranker
        self.chosen = chosen
        self.sources = sources
        self.seen = seen.tocsr()
        self.depth = depth
        self.metadata = dict(metadata or {})
        self._users = id_index(user_ids)
        self._items = id_index(item_ids)
        self.catalogue = sources.stats.users > 0
        self._item_list = [v.item() if isinstance(v, np.generic) else v for v in item_ids]
        popularity = self.generators.get("popularity")
        fallback = (
            popularity.scores(history_matrix([np.zeros(0, np.int64)], len(item_ids)))[0]
            if popularity is not None
            else sources.stats.users
        )
        self._fallback = np.where(self.catalogue, fallback, -np.inf).astype(np.float64)

    @property
    def stats(self) -> ItemStats:
        return self.sources.stats

    @property
    def item_features(self) -> ItemFeatures | None:
        return self.sources.item_features

    @property
    def user_features(self) -> UserFeatures | None:
        return self.sources.user_features

    @property
    def evidence(self) -> RecommenderEvidence:
        """The run's evidence, typed (held-out scores with intervals, what the fit chose
        and why, the data, the checks, the budget); checked on each read, so an edit of
        ``metadata`` shows."""
        return RecommenderEvidence.parse(self.metadata, where="the recommender's metadata")

    @property
    def warnings(self) -> list[str]:
        """The interaction-log checks' warnings at training, one line each: what
        ``mlwright.fit`` issued as ``MlwrightWarning``."""
        checks = self.evidence.checks
        return finding_warnings(f.model_dump() for f in checks.findings) if checks else []

    # -- answering -----------------------------------------------------------------------------

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def knows_user(self, user: Any) -> bool:
        return self._lookup_user(user) is not None

    def _lookup_user(self, user: Any) -> int | None:
        if user is None:
            return None
        code = _find(self._users, user)
        if code is None or self.seen.indptr[code] == self.seen.indptr[code + 1]:
            return None  # never seen, or seen only in rows this model did not train on
        return code

    def history_of(self, code: int) -> np.ndarray:
        """A known user's items (codes) in the order they first met them."""
        row = slice(self.seen.indptr[code], self.seen.indptr[code + 1])
        return np.asarray(self.seen.indices[row][np.argsort(self.seen.data[row], kind="stable")])

    def _codes(self, ids: Sequence[Any] | None) -> tuple[np.ndarray, list[Any]]:
        """Item codes of ``ids`` in order (repeats kept), and the ids the model never saw."""
        if not ids:
            return np.zeros(0, np.int64), []
        codes, unknown = [], []
        for value in ids:
            code = _find(self._items, value)
            if code is None:
                unknown.append(value.item() if isinstance(value, np.generic) else value)
            else:
                codes.append(code)
        return np.asarray(codes, dtype=np.int64), unknown

    def recommend(
        self,
        user: Any = None,
        history: Sequence[Any] | None = None,
        k: int = 10,
        exclude: Sequence[Any] | None = None,
        allow: Sequence[Any] | None = None,
    ) -> list[Any]:
        """The ``k`` item ids to show, best first.

        ``user``: an id from the training data (its history is used). ``history``: item ids
        the user met, for a user the model has not seen or to add recent items to a known
        one (fold-in; items the model never saw are ignored). With neither, or nothing
        known in either: recent popularity (cold start). Items in the history, and in
        ``exclude``, are never recommended; ``allow``, when given, is the only items that
        may be. Fewer than ``k`` come back when the filters leave fewer;
        ``recommend_detail`` says why."""
        return self.recommend_detail(user, history, k, exclude, allow).items

    def recommend_detail(
        self,
        user: Any = None,
        history: Sequence[Any] | None = None,
        k: int = 10,
        exclude: Sequence[Any] | None = None,
        allow: Sequence[Any] | None = None,
    ) -> Recommendation:
        """``recommend`` with its evidence: scores, source, and what was ignored."""
        _check_request(k, history=history, exclude=exclude, allow=allow)
        code = self._lookup_user(user)
        given, unknown_history = self._codes(list(history) if history is not None else None)
        known = self.history_of(code) if code is not None else np.zeros(0, np.int64)
        full = np.concatenate([known.astype(np.int64), given])
        full = full[self.catalogue[full]]  # an id with no training rows adds nothing
        excluded, allowed, unknown_filter = self._filters(exclude, allow)
        mask = allowed.copy()
        mask[full] = False
        mask[excluded] = False

        def answer(items: list[Any], scores: list[float], source: str) -> Recommendation:
            return Recommendation(
                items,
                scores,
                source,
                cold_start=len(full) == 0,
                known_user=code is not None,
                history_used=len(np.unique(full)),
                unknown_history=unknown_history,
                unknown_filter=unknown_filter,
                requested=int(k),
            )

        if len(full) == 0:
            items, scores = self._top(self._fallback, mask, k)
            return answer(items, scores, "popularity")
        if self.chosen != "ranker":
            generator = self.generators[self.chosen]
            raw = generator.scores(history_matrix([full], self.n_items))[0].astype(np.float64)
            items, scores = self._top(raw, mask, k)
            return answer(items, scores, self.chosen)
        items, scores = self._ranked(user, full, allowed, excluded, k)
        return answer(items, scores, "ranker")

    def _filters(
        self, exclude: Sequence[Any] | None, allow: Sequence[Any] | None
    ) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """The codes ``exclude`` names, the catalogue ``allow`` leaves (all of it without
        ``allow``), and the ids of either the model never saw."""
        excluded, unknown_exclude = self._codes(list(exclude) if exclude is not None else None)
        allowed = self.catalogue.copy()
        unknown_allow: list[Any] = []
        if allow is not None:
            allow_codes, unknown_allow = self._codes(list(allow))
            only = np.zeros(self.n_items, dtype=bool)
            only[allow_codes] = True
            allowed &= only
        return excluded, allowed, unknown_exclude + unknown_allow

    def _ranked(
        self, user: Any, full: np.ndarray, allowed: np.ndarray, excluded: np.ndarray, k: int
    ) -> tuple[list[Any], list[float]]:
        """The ranker's ``k`` best of the generators' candidates for one history."""
        known_code = _find(self._users, user) if user is not None else None
        candidates = build_candidates(
            self.generators,
            [full],
            self.sources,
            depth=max(self.depth, k),
            allowed=allowed,
            exclude=[excluded],
            users=[-1 if known_code is None else known_code],
        )
        if len(candidates.items) == 0:
            return [], []
        predicted = self.rank(candidates)
        order = np.argsort(-predicted, kind="stable")[:k]
        return (
            [self._item_list[i] for i in candidates.items[order]],
            [float(v) for v in predicted[order]],
        )

    def rank(self, candidates: Candidates) -> np.ndarray:
        """The ranker's score for each candidate row."""
        if self.ranker is None:
            raise ValueError("this recommender has no ranker")
        return np.asarray(self.ranker.predict(candidates.X, num_threads=1), dtype=np.float64)

    def _top(self, scores: np.ndarray, mask: np.ndarray, k: int) -> tuple[list[Any], list[float]]:
        chosen = top_k(np.where(mask, scores, -np.inf), k)
        return [self._item_list[i] for i in chosen], [float(scores[i]) for i in chosen]

    # -- batch scoring (evaluation) --------------------------------------------------------------

    def top_items(
        self,
        histories: list[np.ndarray],
        k: int,
        *,
        source: str | None = None,
        users: np.ndarray | None = None,
    ) -> np.ndarray:
        """Item codes, users x k (-1 where short), for histories given as item codes (of
        ``users``, codes or -1, for user features); ``source`` picks a generator instead
        of the chosen scorer."""
        source = source or self.chosen
        out = np.full((len(histories), k), -1, dtype=np.int64)
        # As recommend(): history items without training rows are not part of the model.
        histories = [h[self.catalogue[h]] for h in histories]
        if source != "ranker":
            return generator_top(self.generators[source], histories, self.catalogue, k)
        for start in range(0, len(histories), 256):
            batch = histories[start : start + 256]
            candidates = build_candidates(
                self.generators,
                batch,
                self.sources,
                depth=max(self.depth, k),
                allowed=self.catalogue,
                users=None if users is None else users[start : start + 256],
            )
            predicted = self.rank(candidates)
            bounds = np.searchsorted(candidates.users, np.arange(len(batch) + 1))
            for j in range(len(batch)):
                rows = slice(bounds[j], bounds[j + 1])
                order = np.argsort(-predicted[rows], kind="stable")[:k]
                out[start + j, : len(order)] = candidates.items[rows][order]
        return out
