"""The recommendation job: code the log, evaluate by a protocol (fit on its training rows,
score its held-out users), then fit again on every row with the same choices."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, TypedDict, Unpack

import polars as pl

from mlwright._clock import Clock
from mlwright._progress import Progress, Silent
from mlwright.errors import DataError
from mlwright.recommend._candidates import ItemFeatures, UserFeatures
from mlwright.recommend._costs import Costs, Size
from mlwright.recommend._evaluate import RecommendEvaluation, evaluate_split
from mlwright.recommend._fit import (
    Budget,
    FitPlan,
    RecommendSettings,
    Reserve,
    fit_recommender,
    ranker_fit_seconds,
    windows,
)
from mlwright.recommend._interactions import Interactions, interactions_from_frame
from mlwright.recommend._model import Recommender
from mlwright.recommend._split import Protocol, Split, make_split


class TrainOptions(TypedDict, total=False):
    """:func:`train_recommender`'s optional inputs. The items' and users' feature columns
    (default none) and the tables they come from (default: the interactions); the
    evaluation protocol (default 'users') and the share of users it holds out (default
    0.2); the time budget in seconds (default 300) or a ``clock`` already running; where
    progress goes (default nowhere)."""

    item_features: Sequence[str]
    items: pl.DataFrame | None
    user_features: Sequence[str]
    users: pl.DataFrame | None
    protocol: Protocol
    test_share: float
    time_budget: float
    progress: Progress | None
    clock: Clock | None


def train_recommender(
    frame: pl.DataFrame,
    *,
    user: str,
    item: str,
    time_column: str | None = None,
    weight: str | None = None,
    settings: RecommendSettings | None = None,
    **options: Unpack[TrainOptions],
) -> Recommender:
    """Evaluate and fit a recommender on an interaction table. ``item_features`` are
    columns of ``items`` (one row per item, keyed by the ``item`` column) or, without it,
    of ``frame`` itself (the first value seen per item); ``user_features`` likewise of
    ``users`` (keyed by the ``user`` column) or of ``frame``. All of it ends by ``clock``'s
    end (default: ``time_budget`` seconds from now): the choosing fit keeps free what the
    evaluation and the fit on every interaction will take, estimated as it goes. See
    :class:`TrainOptions` for the rest."""
    settings = settings or RecommendSettings()
    progress = options.get("progress") or Silent()
    report = progress.log
    started = time.monotonic()
    clock = options.get("clock")
    clock = clock if clock is not None else Clock.start(options.get("time_budget", 300.0), started)
    protocol = options.get("protocol", "users")
    progress.stage("read the interactions", total=1)
    data = interactions_from_frame(frame, user=user, item=item, time=time_column, weight=weight)
    features, about_users = _side_features(frame, data, user=user, item=item, options=options)
    progress.advance()
    split = make_split(
        data, protocol, test_share=options.get("test_share", 0.2), seed=settings.seed
    )
    report(
        f"{len(data):,} interactions, {data.n_users:,} users, {data.n_items:,} items; "
        f"protocol '{protocol}': {len(split.test):,} held-out users"
    )
    progress.stage("fit on the training users (choosing generators and ranker)", total=1)
    costs = Costs()
    evaluated = fit_recommender(
        split.train,
        item_features=features,
        user_features=about_users,
        settings=settings,
        budget=Budget(clock, costs, _after_choosing(data, split, settings, costs)),
        report=report,
    )
    progress.advance()
    evaluation = _score_held_out(evaluated, split, settings.k, progress)
    plan = FitPlan(**evaluated.metadata["plan"])
    progress.stage("fit on every interaction with the same choices", total=1)
    final = fit_recommender(
        data,
        item_features=features,
        user_features=about_users,
        settings=settings,
        plan=plan,
        report=report,
    )
    progress.advance()
    final.metadata.update(
        {
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "columns": {"user": user, "item": item, "time": time_column, "weight": weight},
            "item_features": list(options.get("item_features", ())),
            "user_features": list(options.get("user_features", ())),
            "settings": _settings_dict(settings),
            "evaluation": evaluation.to_dict(),
            "choice": evaluated.metadata["fit"],
            "data": _data_size(data),
            "seconds": time.monotonic() - started,
        }
    )
    return final


def _score_held_out(
    model: Recommender, split: Split, k: int, progress: Progress
) -> RecommendEvaluation:
    """The held-out users' scores of ``model`` (fitted on the split's training rows)."""
    progress.stage("score the held-out users", total=1)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # small solves per user (see _window_candidates)
        evaluation = evaluate_split(model, split, k)
    progress.advance()
    progress.log(
        f"held-out NDCG@{k} {evaluation.ndcg():.4f} (popularity "
        f"{evaluation.ndcg('popularity'):.4f}) on {evaluation.users} users"
    )
    return evaluation


def _side_features(
    frame: pl.DataFrame, data: Interactions, *, user: str, item: str, options: TrainOptions
) -> tuple[ItemFeatures | None, UserFeatures | None]:
    """The items' and the users' feature columns, lined up with the log's codes (None
    when none are asked for)."""
    item_features = options.get("item_features", ())
    user_features = options.get("user_features", ())
    item_source = _feature_table("item", item, item_features, options.get("items"), frame)
    features = (
        ItemFeatures.from_frame(item_source, item, list(item_features), data.item_ids)
        if item_features
        else None
    )
    user_source = _feature_table("user", user, user_features, options.get("users"), frame)
    about_users = (
        UserFeatures.from_frame(user_source, user, list(user_features), data.user_ids)
        if user_features
        else None
    )
    return features, about_users


def _data_size(data: Interactions) -> dict[str, int]:
    return {"interactions": len(data), "users": data.n_users, "items": data.n_items}


def _after_choosing(
    data: Interactions, split: Split, settings: RecommendSettings, costs: Costs
) -> Reserve:
    """Seconds that follow the choosing fit, for a plan: scoring the held-out users with
    the model and each generator alone, then fitting the plan on every interaction: the
    generators the model scores with (``used_generators``: all of them, with the ranker's
    windows and trees, when the ranker recommends; else the costliest, which may be the
    one chosen, and popularity)."""
    size = Size.of(data)
    users, items = len(split.test), data.n_items
    final_windows: list[tuple[Size, int]] = []

    def reserve(params: Mapping[str, Mapping[str, Any]], trees: int | None) -> float:
        scoring = [costs.score(kind, p, users, items) for kind, p in params.items()]
        seconds = sum(scoring) + max(scoring, default=0.0)  # the model: one more
        fits = {kind: costs.fit(kind, p, size) for kind, p in params.items()}
        if trees is None:  # a generator alone will recommend: it and popularity are refitted
            others = [s for kind, s in fits.items() if kind != "popularity"]
            return seconds + fits.get("popularity", 0.0) + max(others, default=0.0)
        seconds += sum(fits.values())
        if not final_windows:
            final_windows.extend(
                (Size.of(rows), len(held))
                for rows, held in windows(data, settings.windows, settings.history_share)
            )
        seconds += costs.candidates(users, len(params), items)
        seconds += ranker_fit_seconds(final_windows, params, costs, items)
        rows = costs.pool_rows(sum(n for _, n in final_windows), settings.depth, len(params))
        return seconds + costs.trees(rows, costs.n_features(len(params)), trees)

    return reserve


def _feature_table(
    role: str, key: str, columns: Sequence[str], table: pl.DataFrame | None, frame: pl.DataFrame
) -> pl.DataFrame:
    """The table ``columns`` come from (``table``, else the interactions), checked."""
    source = table if table is not None else frame
    missing = [c for c in columns if c not in source.columns]
    if missing:
        where = f"the {role}s table" if table is not None else "the interaction table"
        raise DataError(
            f"{role} feature column(s) {', '.join(missing)} not in {where}; its columns are: "
            f"{', '.join(source.columns)}",
            field=missing[0],
            hint=f"name columns that describe the {role} (one value per {role})",
        )
    if table is not None and key not in table.columns:
        raise DataError(
            f"the {role}s table has no {role} column '{key}'",
            field=key,
            hint=f"give the {role}s table the same {role} id column as the interactions",
        )
    return source


def _settings_dict(settings: RecommendSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["grids"] = {k: list(v) for k, v in settings.grids.items()}
    return out
