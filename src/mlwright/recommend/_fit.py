"""Fitting a recommender without looking at the users it will be tested on.

1. Windows. Each training user's interactions are cut by time: the earlier part is a
   history, the next part the items to find. Window ``w`` ends at the user's last
   interaction (w = 0), or before the part the previous window used (w = 1, 2, ...), so
   a later window never sees what an earlier one predicts. Generators are fitted on the
   rows before each window's targets only.
2. Generator settings (EASE's lambda, ALS's factors and regularisation, kNN's neighbours
   and weighting) are chosen by NDCG@K on the first window's users.
3. The ranker (LightGBM) learns from every window's candidates. Its objective
   (lambdarank, rank_xendcg or binary) and number of trees are chosen by full-ranking
   NDCG@K in a cross-validation over users; its score is compared, on the same users and
   the same measure, with each generator alone, and the better one is what recommends.
4. The generators the model scores with (all of them under the ranker; else the one
   chosen, and popularity) are fitted again on every row, and the ranker kept as trained.
5. A time budget bounds it all (``Budget``). Before each generator setting, the ranker and
   each of its objectives, the fit estimates the step's seconds (``Costs``: the data's size
   times this machine's speed, measured as the fit goes) and keeps free what must follow
   (``reserve``: the caller's count of scoring the held-out users and the fit on every
   interaction). A step that does not fit is skipped (EASE first shrinks to its most-met
   items), and the log says what was skipped, why, and what budget would have held it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlwright._clock import Clock
from mlwright.recommend._candidates import (
    Candidates,
    FeatureSources,
    ItemFeatures,
    ItemStats,
    UserFeatures,
    build_candidates,
)
from mlwright.recommend._costs import EASE_PROBE_ITEMS, Costs, Size
from mlwright.recommend._generators import ALS, EASE, Generator, ItemKNN, Popularity
from mlwright.recommend._interactions import Interactions
from mlwright.recommend._metrics import ranking_scores
from mlwright.recommend._model import Recommender, Scorers, generator_top
from mlwright.recommend._split import HeldOut, split_history

OBJECTIVES = ("lambdarank", "rank_xendcg", "binary")
CHECKPOINT = 25  # trees between the cross-validation's looks
PROBE_TREES = (5, 20)  # trees timed before the ranker's cross-validation is planned


@dataclass(frozen=True)
class RecommendSettings:
    """How a recommender is fitted (the spec's ``[recommend]`` section)."""

    k: int = 10
    depth: int = 50  # candidates per generator
    windows: int = 2
    history_share: float = 0.8
    folds: int = 4
    max_trees: int = 400  # the best is 100-250 on movielens; cross-validation picks it
    ranker: bool = True
    seed: int = 0
    grids: Mapping[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            # The first setting of each kind is the one a short budget tries alone.
            "ease": [{"l2": 500.0}, {"l2": 200.0}, {"l2": 1500.0}],
            "als": [
                {"factors": 64, "l2": 0.05, "alpha": 2.0},
                {"factors": 128, "l2": 0.5, "alpha": 3.0},
            ],
            "item_knn": [
                {"neighbours": 50, "weighting": "cosine"},
                {"neighbours": 200, "weighting": "cosine"},
            ],
            # Plain counts, or "recent popularity": each interaction's weight halves every
            # half_life_days before the newest one.
            "popularity": [
                {"half_life_days": None},
                {"half_life_days": 30.0},
                {"half_life_days": 365.0},
            ],
        }
    )


@dataclass
class FitLog:
    """What the fit chose and why, for the report and the model card. ``skipped`` names
    each step the fit did not do and why; ``because`` says in words why the chosen scorer
    recommends (the ranker's measured comparison, or why there is none)."""

    generators: dict[str, dict[str, Any]] = field(default_factory=dict)
    generator_ndcg: dict[str, float] = field(default_factory=dict)
    ranker: dict[str, Any] = field(default_factory=dict)
    chosen: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    because: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "generators": self.generators,
            "generator_ndcg": self.generator_ndcg,
            "ranker": self.ranker,
            "chosen": self.chosen,
            "seconds": self.seconds,
            "skipped": self.skipped,
            "because": self.because,
        }


Report = Callable[[str], None]

# Seconds to keep free after a choosing fit for what follows it, given the generators'
# settings chosen so far and the ranker's trees (None: a generator alone recommends).
Reserve = Callable[[Mapping[str, Mapping[str, Any]], int | None], float]


def _quiet(_: str) -> None:
    return None


def _nothing_after(params: Mapping[str, Mapping[str, Any]], trees: int | None) -> float:
    return 0.0


# Without it (a margin of 1), the 8 s plan of tests/test_pipeline_recommend.py ended at
# 8.6 s run alone and 9.9 s inside the full test suite on 2 cores; at 1.25, at 5.7-7.4 s.
ESTIMATE_MARGIN = 1.25


@dataclass
class Budget:
    """What a fit may spend: ``clock`` (its end is when the fit must be done), the costs
    measured so far, and ``reserve``: the seconds kept free after the fit."""

    clock: Clock
    costs: Costs = field(default_factory=Costs)
    reserve: Reserve = _nothing_after

    def left(self, params: Mapping[str, Mapping[str, Any]], trees: int | None) -> float:
        """Seconds left for this fit's next step, what must follow it kept free. The costs
        are estimates on a machine others share: a plan uses ESTIMATE_MARGIN of the time
        left, so that a step and its followers that run a quarter slower still fit."""
        return self.clock.left() / ESTIMATE_MARGIN - self.reserve(params, trees)

    def too_long(
        self,
        what: str,
        seconds: float,
        params: Mapping[str, Mapping[str, Any]],
        trees: int | None,
    ) -> str:
        """Why a step of ``seconds`` is not done (with ``params`` and ``trees`` the plan it
        would make): what it and what must follow would take, what was left, and the budget
        that would hold them, with the plan's margin (ESTIMATE_MARGIN)."""
        after = self.reserve(params, trees)
        needed = (seconds + after) * ESTIMATE_MARGIN
        return (
            f"{what} would take about {seconds:.1f} s, and what must follow it about "
            f"{after:.1f} s, with {max(self.clock.left(), 0.0):.1f} s of the time budget left "
            f"and plans allowing {ESTIMATE_MARGIN - 1:.0%} more for a busy machine "
            f"(a budget of about {self.clock.budget_for(needed)} s would hold them)"
        )


def windows(
    data: Interactions, count: int, history_share: float
) -> list[tuple[Interactions, HeldOut]]:
    """``count`` time windows over every user (see the module docstring): for each, the
    rows a generator may learn from and the users' histories and targets."""
    offsets = data.user_rows()
    out = []
    end_share = 1.0
    for _ in range(count):
        keep = np.ones(len(data), dtype=bool)
        users, histories, relevant = [], [], []
        for u in range(data.n_users):
            rows = np.arange(offsets[u], offsets[u + 1])
            end = int(np.floor(end_share * len(rows)))
            keep[rows[end:]] = False
            parts = split_history(data.items[rows[:end]], history_share) if end >= 2 else None
            if parts is None:
                continue
            keep[rows[len(parts[0]) : end]] = False
            users.append(u)
            histories.append(parts[0])
            relevant.append(parts[1])
        if users:
            out.append((data.subset(keep), HeldOut(np.asarray(users), histories, relevant)))
        end_share *= history_share
    return out


def _make(kind: str, params: Mapping[str, Any], seed: int) -> Generator:
    if kind == "ease":
        return EASE(params)
    if kind == "als":
        return ALS({**params, "seed": seed})
    if kind == "item_knn":
        return ItemKNN(params)
    return Popularity(params)


def fit_generator(kind: str, params: Mapping[str, Any], rows: Interactions, seed: int) -> Generator:
    generator = _make(kind, params, seed)
    if isinstance(generator, Popularity):
        return generator.fit_times(rows.items, rows.times, rows.n_items)
    return generator.fit(rows.matrix())


def _described(kind: str, params: Mapping[str, Any]) -> str:
    return _make(kind, params, 0).describe()


def _ndcg(recommender_top: np.ndarray, held: HeldOut, k: int, stats: ItemStats) -> float:
    return ranking_scores(
        recommender_top,
        held.relevant,
        k,
        item_users=stats.users,
        n_train_users=stats.n_train_users,
    ).mean("ndcg")


# EASE shrinks to its most-met items to fit a budget, but never below this many.
MIN_EASE_ITEMS = 200


def choose_generators(
    rows: Interactions,
    held: HeldOut,
    settings: RecommendSettings,
    log: FitLog,
    report: Report,
    *,
    budget: Budget | None = None,
) -> dict[str, dict[str, Any]]:
    """Each generator's setting with the best NDCG@K on ``held`` (fitted on ``rows``). With
    a ``budget``, popularity first (always: it is the baseline and the cold-start answer),
    then the other kinds from the cheapest; a setting whose fit, scoring and what must
    follow do not fit the time left is skipped, and the log says so."""
    stats = ItemStats.from_rows(rows)
    allowed = stats.users > 0
    known = [h[allowed[h]] for h in held.history]  # as Recommender.top_items reads them
    X = rows.matrix()
    size = Size.of(rows)
    planning = _Planning(X, size, held, budget, log, report) if budget is not None else None
    chosen: dict[str, dict[str, Any]] = {}
    grams: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # EASE's X'X by min_users
    for kind in _cost_order(settings, size, budget):
        best: tuple[float, dict[str, Any]] | None = None
        tried: list[dict[str, Any]] = []
        for setting in settings.grids[kind]:
            params: dict[str, Any] | None = dict(setting)
            if planning is not None and kind != "popularity":
                params = _planned(kind, dict(setting), planning, chosen=chosen, tried=tried)
            if params is None:
                if not tried:  # the kind's first setting does not fit: neither will the rest
                    break
                continue
            tried.append(params)
            started = time.perf_counter()
            generator, with_gram = _fit_for_choice(
                kind, params, rows, X, grams=grams, seed=settings.seed
            )
            fitted = time.perf_counter() - started
            top = generator_top(generator, known, allowed, settings.k)
            scored = time.perf_counter() - started - fitted
            if budget is not None:
                if with_gram or not isinstance(generator, EASE):  # a fit as a refit makes it
                    budget.costs.record_fit(kind, params, size, fitted)
                budget.costs.record_score(kind, params, len(held), rows.n_items, scored)
            score = _ndcg(top, held, settings.k, stats)
            report(
                f"{generator.describe()}: NDCG@{settings.k} {score:.4f} on {len(held)} "
                f"validation users ({time.perf_counter() - started:.1f} s)"
            )
            if best is None or score > best[0]:
                best = (score, dict(params))
        if best is not None:
            chosen[kind] = best[1]
            log.generator_ndcg[kind] = best[0]
    # Recorded in the grids' order, whatever order the budget tried them in.
    chosen = {kind: chosen[kind] for kind in settings.grids if kind in chosen}
    log.generator_ndcg = {kind: log.generator_ndcg[kind] for kind in chosen}
    log.generators = chosen
    return chosen


def _fit_for_choice(
    kind: str,
    params: Mapping[str, Any],
    rows: Interactions,
    X: Any,
    *,
    grams: dict[int, tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> tuple[Generator, bool]:
    """A generator of ``params`` fitted on ``rows`` (``X``), and whether this fit computed
    EASE's Gram matrix (kept in ``grams`` for the kind's later settings)."""
    generator = _make(kind, params, seed)
    with_gram = False
    if isinstance(generator, EASE):
        min_users = int(generator.params["min_users"])
        if min_users not in grams:
            grams[min_users] = generator.gram(X)
            with_gram = True
        generator.fit_gram(*grams[min_users], n_items=rows.n_items)
    elif isinstance(generator, Popularity):
        generator.fit_times(rows.items, rows.times, rows.n_items)
    else:
        generator.fit(X)
    return generator, with_gram


def _cost_order(settings: RecommendSettings, size: Size, budget: Budget | None) -> list[str]:
    """The grids' kinds in the order a budget tries them: popularity, then the cheapest
    first setting (a short budget gets the quick generators before the slow one)."""
    kinds = list(settings.grids)
    if budget is None:
        return kinds
    rest = [k for k in kinds if k != "popularity"]
    rest.sort(key=lambda k: budget.costs.fit(k, settings.grids[k][0], size))
    return [k for k in kinds if k == "popularity"] + rest


@dataclass(frozen=True)
class _Planning:
    """What planning the generators' settings within a budget reads: the rows (a matrix,
    and their size), the validation users, the budget, and where skips are written."""

    X: Any
    size: Size
    held: HeldOut
    budget: Budget
    log: FitLog
    report: Report


def _planned(
    kind: str,
    params: dict[str, Any],
    planning: _Planning,
    *,
    chosen: Mapping[str, Mapping[str, Any]],
    tried: Sequence[Mapping[str, Any]],
) -> dict[str, Any] | None:
    """``params`` if fitting and scoring it here, then everything that must follow with it
    in the plan, fit the time left; EASE's first setting shrinks to its most-met items when
    all of them do not fit; else None, the reason logged (for the whole kind when it is
    the kind's first setting: the others cost as much or more)."""
    X, size, held, budget = planning.X, planning.size, planning.held, planning.budget
    log, report = planning.log, planning.report
    costs = budget.costs
    _probe(kind, params, X, size, costs=costs, left=budget.clock.left())
    if kind == "ease" and tried:
        # Later lambdas share the kept items (and the Gram matrix) of the first.
        params["min_users"] = tried[0].get("min_users", params.get("min_users", 2))

    def need(candidate: Mapping[str, Any]) -> tuple[float, float]:
        seconds = costs.fit(kind, candidate, size) + costs.score(
            kind, candidate, len(held), len(size.item_users)
        )
        return seconds, budget.left({**chosen, kind: candidate}, None)

    def too_long(what: str) -> str:
        return budget.too_long(what, seconds, {**chosen, kind: params}, None)

    seconds, left = need(params)
    if seconds <= left:
        return params
    if kind == "ease" and not tried:
        shrunk = _shrink_ease(params, size, need)
        if shrunk is not None:
            least = int(params.get("min_users", 2))
            why = (
                too_long(f"EASE on all {size.kept(least):,} items")
                + f"; it was fitted on the {size.kept(int(shrunk['min_users'])):,} items met "
                f"by at least {shrunk['min_users']} training users"
            )
            log.skipped[f"ease on every item met by {least} or more users"] = why
            report(why)
            return shrunk
    if tried:
        name, what = _described(kind, params), "fitting and scoring it"
    else:
        name, what = kind, f"fitting and scoring its first setting ({_described(kind, params)})"
    why = too_long(what)
    log.skipped[name] = why
    report(f"{name}: not tried: {why}")
    return None


def _shrink_ease(
    params: Mapping[str, Any],
    size: Size,
    need: Callable[[Mapping[str, Any]], tuple[float, float]],
) -> dict[str, Any] | None:
    """EASE on fewer items (a higher ``min_users``: its cost is the cube of the items kept)
    that fits the time left, or None when even MIN_EASE_ITEMS would not."""
    least = int(params.get("min_users", 2))
    for min_users in sorted({int(v) for v in np.unique(size.item_users) if v > least}):
        if size.kept(min_users) < MIN_EASE_ITEMS:
            return None
        candidate = {**params, "min_users": min_users}
        seconds, left = need(candidate)
        if seconds <= left:
            return candidate
    return None


def _probe(
    kind: str, params: Mapping[str, Any], X: Any, size: Size, *, costs: Costs, left: float
) -> None:
    """Before a kind's first real fit, time a small one, so that the estimates stand on this
    machine's speed: EASE on its EASE_PROBE_ITEMS most-met items, ALS for one iteration.
    Only when the small fit itself fits the time left."""
    if kind in costs.measured or kind not in ("ease", "als"):
        return
    if kind == "als":
        once = {**params, "iterations": 1}
        if costs.fit(kind, once, size) > left / 4:
            return
        started = time.perf_counter()
        _make(kind, once, 0).fit(X)
        costs.record_fit(kind, once, size, time.perf_counter() - started)
        return
    counts = np.asarray(X.sum(axis=0)).ravel()
    top = np.argsort(-counts, kind="stable")[:EASE_PROBE_ITEMS]
    probe = Size(size.rows, size.users, len(top), 0.0, np.full(len(top), 2))
    if 2 * costs.fit("ease", {"min_users": 2}, probe) > left / 4:
        return
    took = []
    for _ in range(2):  # a busy machine only ever slows a probe: the quicker one is the fit's
        started = time.perf_counter()
        sub = X[:, top]
        gram = (sub.T @ sub).toarray()
        EASE(params).fit_gram(np.arange(len(top)), gram, n_items=len(top))
        took.append(time.perf_counter() - started)
    costs.record_fit("ease", {"min_users": 2}, probe, min(took))


@dataclass
class _Window:
    candidates: Candidates
    labels: np.ndarray
    held: HeldOut
    stats: ItemStats


def _window_candidates(
    rows: Interactions,
    held: HeldOut,
    params: Mapping[str, dict[str, Any]],
    item_features: ItemFeatures | None,
    settings: RecommendSettings,
    *,
    user_features: UserFeatures | None = None,
    costs: Costs | None = None,
) -> _Window:
    from threadpoolctl import threadpool_limits

    size = Size.of(rows) if costs is not None else None
    generators = {}
    for kind, p in params.items():
        started = time.perf_counter()
        generators[kind] = fit_generator(kind, p, rows, settings.seed)
        if costs is not None and size is not None:
            costs.record_fit(kind, p, size, time.perf_counter() - started)
    stats = ItemStats.from_rows(rows)
    started = time.perf_counter()
    # Thousands of small solves (ALS's fold-in): BLAS threads only stall them on a busy
    # machine (measured: 16 s against 0.4 s on one thread for 537 users on movielens).
    with threadpool_limits(1, "blas"):
        candidates = build_candidates(
            generators,
            held.history,
            FeatureSources(stats, item_features, user_features),
            depth=settings.depth,
            allowed=stats.users > 0,
            users=held.users,
        )
    if costs is not None:
        costs.record(
            "candidates",
            float(len(held)) * len(generators) * rows.n_items,
            time.perf_counter() - started,
        )
        costs.pool = len(candidates.items) / max(len(held), 1)
        costs.features = len(candidates.names)
    return _Window(candidates, candidates.labels(held.relevant), held, stats)


def _lgb_params(objective: str, seed: int) -> dict[str, Any]:
    # Small leaves, many rows per leaf and L2: a few thousand users' candidates overfit fast.
    return {
        "objective": objective,
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.7,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "lambdarank_truncation_level": 20,
        "verbose": -1,
        # One thread: OpenMP threads on busy cores stall (measured on 2 busy cores: 100
        # trees on movielens's candidates 5-8 s on every core, 1.7 s on one).
        "num_threads": 1,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
    }


def _dataset(parts: list[tuple[Candidates, np.ndarray, np.ndarray]]) -> Any:
    """LightGBM data from (candidates, labels, row mask) parts, users with no target in
    their pool left out (they carry no ranking signal)."""
    import lightgbm as lgb

    Xs, ys, groups = [], [], []
    for candidates, labels, mask in parts:
        positives = (
            np.bincount(
                candidates.users,
                weights=labels,
                minlength=int(candidates.users.max(initial=-1)) + 1,
            )
            > 0
        )
        keep = mask & positives[candidates.users]
        Xs.append(candidates.X[keep])
        ys.append(labels[keep])
        groups.append(np.unique(candidates.users[keep], return_counts=True)[1])
    return lgb.Dataset(
        np.vstack(Xs), np.concatenate(ys), group=np.concatenate(groups), free_raw_data=False
    )


def _top_from(
    candidates: Candidates, predicted: np.ndarray, n_users: int, k: int, users: np.ndarray
) -> np.ndarray:
    out = np.full((len(users), k), -1, dtype=np.int64)
    bounds = np.searchsorted(candidates.users, np.arange(n_users + 1))
    for j, u in enumerate(users):
        rows = slice(bounds[u], bounds[u + 1])
        order = np.argsort(-predicted[rows], kind="stable")[:k]
        out[j, : len(order)] = candidates.items[rows][order]
    return out


@dataclass(frozen=True)
class _RankerFolds:
    """The ranker's cross-validation over users: every window's candidates, the fold of
    each of the first window's users (by position, and by user code), and the trees at
    which it is scored. Windows hold the same users under the same codes (all users, in
    order), so one user's rows in every window fall in the same fold."""

    parts: list[_Window]
    fold: np.ndarray
    fold_of_user: dict[int, int]
    checkpoints: np.ndarray
    settings: RecommendSettings

    def scores(self, objective: str, f: int) -> tuple[np.ndarray, int]:
        """Fold ``f``'s NDCG@K at each checkpoint, summed over its validation users (the
        first window's), and how many users those are."""
        import lightgbm as lgb

        settings, first = self.settings, self.parts[0]
        train_parts = []
        for w in self.parts:
            in_fold = np.asarray([self.fold_of_user.get(int(u), -1) == f for u in w.held.users])
            train_parts.append((w.candidates, w.labels, ~in_fold[w.candidates.users]))
        booster = lgb.train(
            _lgb_params(objective, settings.seed),
            _dataset(train_parts),
            int(self.checkpoints[-1]),
        )
        valid_users = np.flatnonzero(self.fold == f)
        rows = np.isin(first.candidates.users, valid_users)
        held = first.held.take(valid_users)
        scores = []
        for trees in self.checkpoints:
            predicted = np.full(len(first.candidates.users), -np.inf)
            predicted[rows] = booster.predict(first.candidates.X[rows], num_iteration=int(trees))
            top = _top_from(first.candidates, predicted, len(first.held), settings.k, valid_users)
            scores.append(_ndcg(top, held, settings.k, first.stats) * len(valid_users))
        return np.asarray(scores), len(valid_users)

    def curve(
        self, objective: str, deadline: float, log: FitLog, report: Report
    ) -> tuple[np.ndarray, int]:
        """Mean NDCG@K per checkpoint over the folds that ran (the first always runs; a
        later one when the last one's time still fits before ``deadline``), and how many."""
        settings = self.settings
        per_fold: list[np.ndarray] = []
        scored_users = 0
        fold_took = 0.0
        for f in range(settings.folds):
            if per_fold and time.monotonic() + fold_took > deadline:
                why = f"{f} of {settings.folds} folds: the time budget would not hold another"
                log.skipped[f"ranker objective {objective}, folds {f + 1}-{settings.folds}"] = why
                report(f"ranker {objective}: {why}")
                break
            fold_started = time.perf_counter()
            scores, users = self.scores(objective, f)
            per_fold.append(scores)
            scored_users += users
            fold_took = time.perf_counter() - fold_started
        return np.asarray(np.sum(per_fold, axis=0) / max(scored_users, 1)), len(per_fold)


def choose_ranker(
    parts: list[_Window],
    settings: RecommendSettings,
    log: FitLog,
    report: Report,
    deadline: float,
    *,
    max_trees: int | None = None,
) -> tuple[str, int, float]:
    """(objective, trees, cross-validated NDCG@K on the first window's users). The first
    objective's first fold always runs; a later fold or objective only when its measured
    time fits before ``deadline``, the log naming any left out. ``max_trees`` (default the
    settings') caps the trees tried."""
    first = parts[0]
    fold = np.random.default_rng(settings.seed).integers(0, settings.folds, len(first.held))
    fold_of_user = dict(zip(first.held.users.tolist(), fold.tolist(), strict=True))
    cap = settings.max_trees if max_trees is None else max_trees
    checkpoints = np.arange(CHECKPOINT, cap + 1, CHECKPOINT)
    folds = _RankerFolds(parts, fold, fold_of_user, checkpoints, settings)
    curves: dict[str, list[np.ndarray]] = {}
    took = 0.0  # seconds the last objective's cross-validation took
    folds_used: dict[str, int] = {}
    for objective in OBJECTIVES:
        if curves and time.monotonic() + took > deadline:
            why = (
                f"not cross-validated: it would take about {took:.1f} s and "
                f"{max(deadline - time.monotonic(), 0.0):.1f} s of the time budget were left"
            )
            log.skipped[f"ranker objective {objective}"] = why
            report(f"ranker {objective}: {why}")
            continue
        started = time.perf_counter()
        curve, folds_used[objective] = folds.curve(objective, deadline, log, report)
        curves[objective] = [curve]
        took = time.perf_counter() - started
        best = int(np.argmax(curve))
        report(
            f"ranker {objective}: cross-validated NDCG@{settings.k} {curve[best]:.4f} at "
            f"{checkpoints[best]} trees ({time.perf_counter() - started:.1f} s)"
        )
    objective = max(curves, key=lambda o: float(curves[o][0].max()))
    curve = curves[objective][0]
    best = int(np.argmax(curve))
    log.ranker = {
        "objective": objective,
        "trees": int(checkpoints[best]),
        "cv_ndcg": float(curve[best]),
        "cv_ndcg_by_objective": {o: float(c[0].max()) for o, c in curves.items()},
        "folds": settings.folds,
        "folds_used": folds_used,
        "max_trees": int(checkpoints[-1]),
        "windows": len(parts),
    }
    return objective, int(checkpoints[best]), float(curve[best])


def _with_own_finish(budget: Budget, size: Size, window_users: int, depth: int) -> Budget:
    """``budget`` with what a choosing fit does after choosing kept free as well: each
    chosen generator fitted again on all its rows, and the ranker trained on every window."""
    costs, outer = budget.costs, budget.reserve

    def reserve(params: Mapping[str, Mapping[str, Any]], trees: int | None) -> float:
        seconds = sum(costs.fit(kind, p, size) for kind, p in params.items())
        if trees is not None:
            rows = costs.pool_rows(window_users, depth, len(params))
            seconds += costs.trees(rows, costs.n_features(len(params)), trees)
        return seconds + outer(params, trees)

    return Budget(budget.clock, costs, reserve)


def ranker_fit_seconds(
    sizes: Sequence[tuple[Size, int]],
    params: Mapping[str, Mapping[str, Any]],
    costs: Costs,
    n_items: int,
) -> float:
    """Seconds to build the ranker's candidates on windows of ``sizes`` (each window's rows
    and users): the generators fitted on each window's rows, then every user's pool."""
    return sum(
        sum(costs.fit(kind, p, size) for kind, p in params.items())
        + costs.candidates(users, len(params), n_items)
        for size, users in sizes
    )


@dataclass(frozen=True)
class _Fit:
    """What every step of one fit reads: its settings and the items' and users' feature
    columns; and where it writes what it chose (``log``) and reports progress."""

    settings: RecommendSettings
    item_features: ItemFeatures | None
    user_features: UserFeatures | None
    log: FitLog
    report: Report


def _try_ranker(
    parts_raw: list[tuple[Interactions, HeldOut]],
    params: Mapping[str, dict[str, Any]],
    fit: _Fit,
    budget: Budget,
) -> tuple[list[_Window], tuple[str, int, float]] | None:
    """Build the windows' candidates and cross-validate the ranker, if the budget holds
    them (and the ranker's training after); None, the reason in ``log.ranker``, if not."""
    settings, log, report = fit.settings, fit.log, fit.report

    def skip(why: str) -> None:
        log.ranker = {"skipped": why}
        log.skipped["ranker"] = why
        report(f"ranker: not trained: {why}")

    if not settings.ranker:
        log.ranker = {"skipped": "it is turned off (recommend.ranker = false)"}
        return None
    costs = budget.costs
    n_items = parts_raw[0][0].n_items
    sizes = [(Size.of(rows), len(held)) for rows, held in parts_raw]
    users = sum(len(held) for _, held in parts_raw)
    least = 2 * CHECKPOINT  # fewer trees than this is no ranker worth comparing

    def cv_seconds(trees: int) -> float:
        rows = costs.pool_rows(users, settings.depth, len(params))
        fold_rows = rows * (settings.folds - 1) / settings.folds
        # Training, and predicting at each checkpoint (a fifth more, measured).
        return 1.2 * settings.folds * costs.trees(fold_rows, costs.n_features(len(params)), trees)

    building = ranker_fit_seconds(sizes, params, costs, n_items)
    if building + cv_seconds(least) > budget.left(params, least):
        skip(
            budget.too_long(
                f"building its candidates (about {building:.1f} s) and cross-validating it "
                f"(about {cv_seconds(least):.1f} s at {least} trees)",
                building + cv_seconds(least),
                params,
                least,
            )
        )
        return None
    parts = [
        _window_candidates(
            rows,
            held,
            params,
            fit.item_features,
            settings,
            user_features=fit.user_features,
            costs=costs,
        )
        for rows, held in parts_raw
    ]
    if "trees" not in costs.measured:  # time a few trees on this data before planning more
        _probe_trees(parts, costs, settings.seed)
    cap = settings.max_trees - settings.max_trees % CHECKPOINT
    while cap >= least and cv_seconds(cap) > budget.left(params, cap):
        cap -= CHECKPOINT
    if cap < least:
        skip(budget.too_long("cross-validating it", cv_seconds(least), params, least))
        return None
    if cap < settings.max_trees:
        why = budget.too_long(
            f"cross-validating {settings.max_trees} trees",
            cv_seconds(settings.max_trees),
            params,
            settings.max_trees,
        )
        log.skipped[f"ranker trees above {cap}"] = why
        report(f"ranker: up to {cap} trees: {why}")
    deadline = budget.clock.end - budget.reserve(params, cap)
    return parts, choose_ranker(parts, settings, log, report, deadline, max_trees=cap)


def _probe_trees(parts: list[_Window], costs: Costs, seed: int) -> None:
    """Time PROBE_TREES trees on the windows' candidates, for the costs of more."""
    import lightgbm as lgb

    probe = [(w.candidates, w.labels, np.ones(len(w.labels), dtype=bool)) for w in parts]
    timed = {}
    for trees in PROBE_TREES:
        started = time.perf_counter()
        dataset = _dataset(probe)
        lgb.train(_lgb_params(OBJECTIVES[0], seed), dataset, trees)
        timed[trees] = time.perf_counter() - started
    costs.record_trees(dataset.num_data(), dataset.num_feature(), timed)


@dataclass(frozen=True)
class FitPlan:
    """What a fit chose: each generator's setting, and the ranker's objective and trees
    (None when a generator alone recommends). Refitting on more rows reuses it."""

    generators: dict[str, dict[str, Any]]
    chosen: str
    objective: str | None = None
    trees: int | None = None


def used_generators(plan: FitPlan) -> dict[str, dict[str, Any]]:
    """The generators a model of ``plan`` scores with: every one under a ranker (its
    candidates come from all); else the one chosen, and popularity (the cold-start answer)."""
    if plan.chosen == "ranker":
        return dict(plan.generators)
    return {k: p for k, p in plan.generators.items() if k in ("popularity", plan.chosen)}


def fit_recommender(
    data: Interactions,
    *,
    item_features: ItemFeatures | None = None,
    user_features: UserFeatures | None = None,
    settings: RecommendSettings | None = None,
    plan: FitPlan | None = None,
    time_budget: float = 300.0,
    report: Report = _quiet,
    budget: Budget | None = None,
) -> Recommender:
    """Fit on every row of ``data``: choose as the module docstring says, or follow
    ``plan`` (an earlier fit's choices) without choosing again. A choosing fit plans within
    ``budget`` (default: ``time_budget`` seconds from now, nothing kept after it) and
    keeps every generator; a fit that follows a plan fits what the plan's scorer uses
    (``used_generators``), work its caller budgeted."""
    import lightgbm as lgb

    settings = settings or RecommendSettings()
    started = time.monotonic()
    log = FitLog()
    fit = _Fit(settings, item_features, user_features, log, report)
    parts_raw = windows(data, max(1, settings.windows), settings.history_share)
    if not parts_raw:
        raise ValueError("no user has two or more interactions to learn from")
    ranker = None
    follows = plan
    if plan is None:
        budget = _with_own_finish(
            budget if budget is not None else Budget(Clock.start(time_budget)),
            Size.of(data),
            sum(len(held) for _, held in parts_raw),
            settings.depth,
        )
        plan, parts = _choose_plan(parts_raw, fit, budget, started)
    else:
        log.generators = dict(plan.generators)
        log.ranker = {"objective": plan.objective, "trees": plan.trees, "from_plan": True}
        parts = _plan_windows(parts_raw, plan, fit)
    if plan.chosen == "ranker":
        assert plan.objective is not None
        assert plan.trees is not None
        everything = [(w.candidates, w.labels, np.ones(len(w.labels), dtype=bool)) for w in parts]
        ranker = lgb.train(
            _lgb_params(plan.objective, settings.seed), _dataset(everything), plan.trees
        )
    chosen = plan.chosen
    log.chosen = chosen
    # A choosing fit keeps every generator: the evaluation scores each one alone. A fit
    # that follows a plan keeps what the plan's scorer uses.
    params = plan.generators if follows is None else used_generators(plan)
    step = time.monotonic()
    generators = {kind: fit_generator(kind, p, data, settings.seed) for kind, p in params.items()}
    log.seconds["final_fit"] = time.monotonic() - step
    log.seconds["total"] = time.monotonic() - started
    return Recommender(
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        scorers=Scorers(generators, ranker, chosen),
        sources=FeatureSources(ItemStats.from_rows(data), item_features, user_features),
        seen=data.ordered_matrix(),
        depth=settings.depth,
        metadata={"fit": log.to_dict(), "plan": asdict(plan)},
    )


def _choose_plan(
    parts_raw: list[tuple[Interactions, HeldOut]], fit: _Fit, budget: Budget, started: float
) -> tuple[FitPlan, list[_Window]]:
    """Choose the generators' settings on the first window, then whether the ranker over
    their candidates recommends better than the best generator alone, within ``budget``;
    the plan, and the windows' candidates when the ranker was cross-validated."""
    settings, log = fit.settings, fit.log
    first_rows, first_held = parts_raw[0]
    params = choose_generators(first_rows, first_held, settings, log, fit.report, budget=budget)
    log.seconds["generators"] = time.monotonic() - started
    chosen = max(log.generator_ndcg, key=lambda g: log.generator_ndcg[g])
    objective: str | None = None
    trees: int | None = None
    parts: list[_Window] = []
    step = time.monotonic()
    ranked = _try_ranker(parts_raw, params, fit, budget)
    log.seconds["ranker_choice"] = time.monotonic() - step
    if ranked is None:
        log.because = f"the ranker was not trained: {log.ranker['skipped']}"
    else:
        parts, (best_objective, best_trees, cv_ndcg) = ranked
        if _ranker_wins(fit, budget, params, chosen, cv_ndcg=cv_ndcg, trees=best_trees):
            chosen, objective, trees = "ranker", best_objective, best_trees
    fit.report(f"chosen: {chosen} ({log.because})")
    return FitPlan(params, chosen, objective, trees), parts


def _ranker_wins(
    fit: _Fit,
    budget: Budget,
    params: Mapping[str, Mapping[str, Any]],
    generator: str,
    *,
    cv_ndcg: float,
    trees: int,
) -> bool:
    """Whether the cross-validated ranker recommends: it beats the best generator alone
    (``generator``) and using it fits the budget. ``log.because`` says why, either way."""
    log = fit.log
    compared = (
        f"cross-validated NDCG@{fit.settings.k} {cv_ndcg:.4f} against the best generator "
        f"alone, {generator} {log.generator_ndcg[generator]:.4f}, on validation users"
    )
    left = budget.left(params, trees)
    if cv_ndcg <= log.generator_ndcg[generator]:
        log.because = f"the ranker did not beat it: {compared}"
        return False
    if left < 0:
        why = (
            "using it (training it on the windows' candidates, then on every "
            f"interaction's) would overrun the time budget by about {-left:.1f} s "
            "(a budget of about "
            f"{budget.clock.budget_for(budget.clock.left() - left)} s would hold it)"
        )
        log.skipped["ranker (it beat the generators)"] = why
        log.because = f"the ranker beat it ({compared}), but {why}"
        return False
    log.because = f"the ranker beat every generator alone: {compared}"
    return True


def _plan_windows(
    parts_raw: list[tuple[Interactions, HeldOut]], plan: FitPlan, fit: _Fit
) -> list[_Window]:
    """The windows' candidates a plan's ranker trains on (none when a generator alone
    recommends)."""
    if plan.chosen != "ranker":
        return []
    return [
        _window_candidates(
            rows,
            held,
            plan.generators,
            fit.item_features,
            fit.settings,
            user_features=fit.user_features,
        )
        for rows, held in parts_raw
    ]
