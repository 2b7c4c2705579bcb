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
4. The generators are fitted again on every row, and the ranker kept as trained.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlwright.recommend._candidates import (
    Candidates,
    ItemFeatures,
    ItemStats,
    UserFeatures,
    build_candidates,
)
from mlwright.recommend._generators import ALS, EASE, Generator, ItemKNN, Popularity
from mlwright.recommend._interactions import Interactions
from mlwright.recommend._metrics import ranking_scores
from mlwright.recommend._model import Recommender, generator_top
from mlwright.recommend._split import HeldOut, split_history

OBJECTIVES = ("lambdarank", "rank_xendcg", "binary")
CHECKPOINT = 25  # trees between the cross-validation's looks


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
            "ease": [{"l2": 200.0}, {"l2": 500.0}, {"l2": 1500.0}],
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
    """What the fit chose and why, for the report and the model card."""

    generators: dict[str, dict[str, Any]] = field(default_factory=dict)
    generator_ndcg: dict[str, float] = field(default_factory=dict)
    ranker: dict[str, Any] = field(default_factory=dict)
    chosen: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generators": self.generators,
            "generator_ndcg": self.generator_ndcg,
            "ranker": self.ranker,
            "chosen": self.chosen,
            "seconds": self.seconds,
        }


Report = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


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


def _ndcg(recommender_top: np.ndarray, held: HeldOut, k: int, stats: ItemStats) -> float:
    return ranking_scores(
        recommender_top,
        held.relevant,
        k,
        item_users=stats.users,
        n_train_users=stats.n_train_users,
    ).mean("ndcg")


def choose_generators(
    rows: Interactions,
    held: HeldOut,
    settings: RecommendSettings,
    log: FitLog,
    report: Report,
) -> dict[str, dict[str, Any]]:
    """Each generator's setting with the best NDCG@K on ``held`` (fitted on ``rows``)."""
    stats = ItemStats.from_rows(rows)
    allowed = stats.users > 0
    known = [h[allowed[h]] for h in held.history]  # as Recommender.top_items reads them
    X = rows.matrix()
    chosen: dict[str, dict[str, Any]] = {}
    for kind, grid in settings.grids.items():
        best: tuple[float, dict[str, Any]] | None = None
        gram = None
        for params in grid:
            started = time.perf_counter()
            generator = _make(kind, params, settings.seed)
            if isinstance(generator, EASE):
                if gram is None:
                    gram = generator.gram(X)
                generator.fit_gram(*gram, n_items=rows.n_items)
            elif isinstance(generator, Popularity):
                generator.fit_times(rows.items, rows.times, rows.n_items)
            else:
                generator.fit(X)
            score = _ndcg(
                generator_top(generator, known, allowed, settings.k), held, settings.k, stats
            )
            report(
                f"{generator.describe()}: NDCG@{settings.k} {score:.4f} on {len(held)} "
                f"validation users ({time.perf_counter() - started:.1f} s)"
            )
            if best is None or score > best[0]:
                best = (score, dict(params))
        assert best is not None
        chosen[kind] = best[1]
        log.generator_ndcg[kind] = best[0]
    log.generators = chosen
    return chosen


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
) -> _Window:
    generators = {kind: fit_generator(kind, p, rows, settings.seed) for kind, p in params.items()}
    stats = ItemStats.from_rows(rows)
    candidates = build_candidates(
        generators,
        held.history,
        stats=stats,
        item_features=item_features,
        depth=settings.depth,
        allowed=stats.users > 0,
        user_features=user_features,
        users=held.users,
    )
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
        "num_threads": 0,
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


def choose_ranker(
    parts: list[_Window], settings: RecommendSettings, log: FitLog, report: Report, deadline: float
) -> tuple[str, int, float]:
    """(objective, trees, cross-validated NDCG@K on the first window's users)."""
    import lightgbm as lgb

    first = parts[0]
    n_users = len(first.held)
    fold = np.random.default_rng(settings.seed).integers(0, settings.folds, n_users)
    # Windows hold the same users under the same codes (all users, in order), so one user's
    # rows in every window fall in the same fold.
    user_of = [w.held.users for w in parts]
    fold_of_user = dict(zip(first.held.users.tolist(), fold.tolist(), strict=True))
    curves: dict[str, list[np.ndarray]] = {}
    checkpoints = np.arange(CHECKPOINT, settings.max_trees + 1, CHECKPOINT)
    took = 0.0  # seconds the last objective's cross-validation took
    for objective in OBJECTIVES:
        if curves and time.monotonic() + took > deadline:
            report(f"ranker {objective}: not tried (it would overrun the time budget)")
            continue
        started = time.perf_counter()
        per_fold: list[np.ndarray] = []
        scored_users = 0
        for f in range(settings.folds):
            if per_fold and time.monotonic() > deadline:
                report(f"ranker {objective}: {f} of {settings.folds} folds (time budget)")
                break
            train_parts = []
            for w, users in zip(parts, user_of, strict=True):
                in_fold = np.asarray([fold_of_user.get(int(u), -1) == f for u in users])
                train_parts.append((w.candidates, w.labels, ~in_fold[w.candidates.users]))
            booster = lgb.train(
                _lgb_params(objective, settings.seed), _dataset(train_parts), int(checkpoints[-1])
            )
            valid_users = np.flatnonzero(fold == f)
            rows = np.isin(first.candidates.users, valid_users)
            held = first.held.take(valid_users)
            scores = []
            for trees in checkpoints:
                predicted = np.full(len(first.candidates.users), -np.inf)
                predicted[rows] = booster.predict(
                    first.candidates.X[rows], num_iteration=int(trees)
                )
                top = _top_from(first.candidates, predicted, n_users, settings.k, valid_users)
                scores.append(_ndcg(top, held, settings.k, first.stats) * len(valid_users))
            per_fold.append(np.asarray(scores))
            scored_users += len(valid_users)
        curve = np.sum(per_fold, axis=0) / max(scored_users, 1)
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
        "windows": len(parts),
    }
    return objective, int(checkpoints[best]), float(curve[best])


@dataclass(frozen=True)
class FitPlan:
    """What a fit chose: each generator's setting, and the ranker's objective and trees
    (None when a generator alone recommends). Refitting on more rows reuses it."""

    generators: dict[str, dict[str, Any]]
    chosen: str
    objective: str | None = None
    trees: int | None = None


def fit_recommender(
    data: Interactions,
    *,
    item_features: ItemFeatures | None = None,
    user_features: UserFeatures | None = None,
    settings: RecommendSettings | None = None,
    plan: FitPlan | None = None,
    time_budget: float = 300.0,
    report: Report = _quiet,
) -> Recommender:
    """Fit on every row of ``data``: choose as the module docstring says, or follow
    ``plan`` (an earlier fit's choices) without choosing again."""
    import lightgbm as lgb

    settings = settings or RecommendSettings()
    started = time.monotonic()
    deadline = started + time_budget
    log = FitLog()
    parts_raw = windows(data, max(1, settings.windows), settings.history_share)
    if not parts_raw:
        raise ValueError("no user has two or more interactions to learn from")
    ranker = None
    parts: list[_Window] = []
    if plan is None:
        first_rows, first_held = parts_raw[0]
        params = choose_generators(first_rows, first_held, settings, log, report)
        log.seconds["generators"] = time.monotonic() - started
        chosen = max(log.generator_ndcg, key=lambda g: log.generator_ndcg[g])
        objective: str | None = None
        trees: int | None = None
        if settings.ranker and time.monotonic() < deadline:
            step = time.monotonic()
            parts = [
                _window_candidates(
                    rows, held, params, item_features, settings, user_features=user_features
                )
                for rows, held in parts_raw
            ]
            log.seconds["candidates"] = time.monotonic() - step
            step = time.monotonic()
            best_objective, best_trees, cv_ndcg = choose_ranker(
                parts, settings, log, report, deadline
            )
            log.seconds["ranker_choice"] = time.monotonic() - step
            best_generator = chosen
            if cv_ndcg > log.generator_ndcg[chosen]:
                chosen, objective, trees = "ranker", best_objective, best_trees
            report(
                f"chosen: {chosen} (ranker {cv_ndcg:.4f} against the best generator alone, "
                f"{best_generator} {log.generator_ndcg[best_generator]:.4f}: NDCG@{settings.k} "
                "on validation users)"
            )
        plan = FitPlan(params, chosen, objective, trees)
    else:
        log.generators = dict(plan.generators)
        log.ranker = {"objective": plan.objective, "trees": plan.trees, "from_plan": True}
        parts = (
            [
                _window_candidates(
                    rows,
                    held,
                    plan.generators,
                    item_features,
                    settings,
                    user_features=user_features,
                )
                for rows, held in parts_raw
            ]
            if plan.chosen == "ranker"
            else []
        )
    if plan.chosen == "ranker":
        assert plan.objective is not None
        assert plan.trees is not None
        everything = [(w.candidates, w.labels, np.ones(len(w.labels), dtype=bool)) for w in parts]
        ranker = lgb.train(
            _lgb_params(plan.objective, settings.seed), _dataset(everything), plan.trees
        )
    params = plan.generators
    chosen = plan.chosen
    log.chosen = chosen
    step = time.monotonic()
    generators = {kind: fit_generator(kind, p, data, settings.seed) for kind, p in params.items()}
    log.seconds["final_fit"] = time.monotonic() - step
    log.seconds["total"] = time.monotonic() - started
    return Recommender(
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        generators=generators,
        ranker=ranker,
        chosen=chosen,
        stats=ItemStats.from_rows(data),
        item_features=item_features,
        seen=data.ordered_matrix(),
        depth=settings.depth,
        metadata={"fit": log.to_dict(), "plan": asdict(plan)},
        user_features=user_features,
    )
