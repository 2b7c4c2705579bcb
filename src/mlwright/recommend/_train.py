"""The recommendation job: code the log, evaluate by a protocol (fit on its training rows,
score its held-out users), then fit again on every row with the same choices."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import polars as pl

from mlwright._progress import Progress, Silent
from mlwright.errors import DataError
from mlwright.recommend._candidates import ItemFeatures
from mlwright.recommend._evaluate import evaluate_split
from mlwright.recommend._fit import FitPlan, RecommendSettings, fit_recommender
from mlwright.recommend._interactions import interactions_from_frame
from mlwright.recommend._model import Recommender
from mlwright.recommend._split import Protocol, make_split


def train_recommender(
    frame: pl.DataFrame,
    *,
    user: str,
    item: str,
    time_column: str | None = None,
    weight: str | None = None,
    item_features: Sequence[str] = (),
    items: pl.DataFrame | None = None,
    protocol: Protocol = "users",
    test_share: float = 0.2,
    settings: RecommendSettings | None = None,
    time_budget: float = 300.0,
    progress: Progress | None = None,
) -> Recommender:
    """Evaluate and fit a recommender on an interaction table. ``item_features`` are
    columns of ``items`` (one row per item, keyed by the ``item`` column) or, without it,
    of ``frame`` itself (the first value seen per item)."""
    settings = settings or RecommendSettings()
    progress = progress or Silent()
    report = progress.log
    started = time.monotonic()
    progress.stage("read the interactions", total=1)
    data = interactions_from_frame(frame, user=user, item=item, time=time_column, weight=weight)
    source = items if items is not None else frame
    missing = [c for c in item_features if c not in source.columns]
    if missing:
        where = "the items table" if items is not None else "the interaction table"
        raise DataError(
            f"item feature column(s) {', '.join(missing)} not in {where}; its columns are: "
            f"{', '.join(source.columns)}",
            field=missing[0],
            hint="name columns that describe the item (one value per item)",
        )
    if items is not None and item not in items.columns:
        raise DataError(
            f"the items table has no item column '{item}'",
            field=item,
            hint="give the items table the same item id column as the interactions",
        )
    features = (
        ItemFeatures.from_frame(source, item, list(item_features), data.item_ids)
        if item_features
        else None
    )
    progress.advance()
    split = make_split(data, protocol, test_share=test_share, seed=settings.seed)
    report(
        f"{len(data):,} interactions, {data.n_users:,} users, {data.n_items:,} items; "
        f"protocol '{protocol}': {len(split.test):,} held-out users"
    )
    progress.stage("fit on the training users (choosing generators and ranker)", total=1)
    evaluated = fit_recommender(
        split.train,
        item_features=features,
        settings=settings,
        time_budget=time_budget * 0.6,
        report=report,
    )
    progress.advance()
    progress.stage("score the held-out users", total=1)
    evaluation = evaluate_split(evaluated, split, settings.k)
    progress.advance()
    report(
        f"held-out NDCG@{settings.k} {evaluation.ndcg():.4f} (popularity "
        f"{evaluation.ndcg('popularity'):.4f}) on {evaluation.users} users"
    )
    plan = FitPlan(**evaluated.metadata["plan"])
    progress.stage("fit on every interaction with the same choices", total=1)
    final = fit_recommender(
        data, item_features=features, settings=settings, plan=plan, report=report
    )
    progress.advance()
    final.metadata.update(
        {
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "columns": {"user": user, "item": item, "time": time_column, "weight": weight},
            "item_features": list(item_features),
            "settings": _settings_dict(settings),
            "evaluation": evaluation.to_dict(),
            "choice": evaluated.metadata["fit"],
            "data": {
                "interactions": len(data),
                "users": data.n_users,
                "items": data.n_items,
            },
            "seconds": time.monotonic() - started,
        }
    )
    return final


def _settings_dict(settings: RecommendSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["grids"] = {k: list(v) for k, v in settings.grids.items()}
    return out
