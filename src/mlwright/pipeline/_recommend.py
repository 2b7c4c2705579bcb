"""The main job for a recommendation task as a list of stages over the same runner:
check the log -> read item and user tables -> fit (evaluate by the spec's protocol, then fit
on every interaction) -> document -> card -> package -> register."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from mlwright._progress import Progress, Silent
from mlwright.data import fingerprint, load_training_data, read_file, to_polars
from mlwright.pipeline._budget import refuse_recommend_budget_up_front
from mlwright.pipeline._check import log_warnings
from mlwright.pipeline._package import card_documents, default_out_dir
from mlwright.pipeline._register import StoreOpener, register_recommender
from mlwright.pipeline._runner import Run, Stage, run_stages
from mlwright.recommend import (
    InteractionChecks,
    Recommender,
    RecommendSettings,
    check_interactions,
    recommender_card,
    save_recommender,
    train_recommender,
)
from mlwright.registry import Registration
from mlwright.report import Card
from mlwright.spec import TaskSpec, spec_from_dict


@dataclass
class RecommendRunResult:
    """A recommendation run: the model (evaluated, then fitted on every interaction), what
    the data checks found, and where it was saved and registered."""

    model: Recommender
    checks: InteractionChecks
    artifact_dir: Path | None = None
    registration: Registration | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Recommendation:
    """A recommendation run's state: each stage reads the fields earlier stages set."""

    data: Any
    items: Any
    users: Any
    out_dir: Path | None
    frame: pl.DataFrame = field(init=False)
    checks: InteractionChecks = field(init=False)
    model: Recommender = field(init=False)
    documents: dict[str, str] = field(init=False)
    artifact_dir: Path | None = None
    registration: Registration | None = None


def check_recommendation(
    spec: TaskSpec, data: Any = None, progress: Progress | None = None
) -> tuple[pl.DataFrame, InteractionChecks]:
    """Load an interaction log and run its data checks."""
    progress = progress if progress is not None else Silent()
    progress.stage("loading data")
    frame = load_training_data(spec, data)
    progress.stage("checking data")
    task = spec.task
    assert task.user is not None
    assert task.item is not None
    checks = check_interactions(
        frame,
        user=task.user,
        item=task.item,
        time=task.time,
        weight=task.weight,
        allow=spec.checks.allow,
    )
    return frame, checks


def _check(run: Run, s: Recommendation) -> None:
    s.frame, s.checks = check_recommendation(run.spec, s.data, run.progress)
    log_warnings(run.progress, s.checks.findings)
    s.checks.raise_if_blocking()


def _side_tables(run: Run, s: Recommendation) -> None:
    """The item and user tables: given to the call, or named by the spec."""
    spec, rec = run.spec, run.spec.recommend
    if s.items is not None:
        s.items = to_polars(s.items, base_dir=spec.base_dir)
    elif rec.items:
        s.items = read_file(spec.resolve_path(rec.items))
    if s.users is not None:
        s.users = to_polars(s.users, base_dir=spec.base_dir)
    elif rec.users:
        s.users = read_file(spec.resolve_path(rec.users))
    run.clock = run.clock.keeping(run.finish)
    refuse_recommend_budget_up_front(run.clock)
    # Once the log and the budget have passed their checks: a refused run creates nothing.
    if run.register:
        run.store = StoreOpener(spec.registry.tracking_uri)


def _train(run: Run, s: Recommendation) -> None:
    spec, rec = run.spec, run.spec.recommend
    assert spec.task.user is not None
    assert spec.task.item is not None
    settings = RecommendSettings(
        k=rec.k,
        depth=rec.candidates,
        folds=spec.validation.folds,
        history_share=rec.history_share,
        ranker=rec.ranker,
        seed=spec.seed,
    )
    s.model = train_recommender(
        s.frame,
        user=spec.task.user,
        item=spec.task.item,
        time_column=spec.task.time,
        weight=spec.task.weight,
        item_features=tuple(rec.item_features),
        items=s.items,
        user_features=tuple(rec.user_features),
        users=s.users,
        protocol=rec.protocol,
        test_share=spec.validation.holdout,
        settings=settings,
        clock=run.clock,
        progress=run.progress,
    )


def _document(run: Run, s: Recommendation) -> None:
    metadata = s.model.metadata
    metadata["name"] = run.spec.task_name
    metadata["spec"] = run.spec.to_dict()
    metadata["checks"] = s.checks.to_dict()
    metadata["data"]["fingerprint"] = fingerprint(s.frame)
    metadata["budget"] = {
        "seconds": run.budget,
        "kept_for_card_save_register": round(run.finish, 3),
        "skipped": dict(metadata["choice"].get("skipped", {})),
    }


def _card(run: Run, s: Recommendation) -> None:
    s.documents = card_documents(recommender_model_card(s.model))


def _package(run: Run, s: Recommendation) -> None:
    s.model.metadata["timings"] = run.record_timings()
    directory = s.out_dir if s.out_dir is not None else default_out_dir(run.spec)
    with run.timed("save"):
        s.artifact_dir = save_recommender(s.model, directory, documents=s.documents)


def _register(run: Run, s: Recommendation) -> None:
    assert run.store is not None
    assert s.artifact_dir is not None
    run.timings["store_wait"] = run.store.wait()
    s.registration = register_recommender(s.model, s.artifact_dir, run.spec)


FIT_STAGES: list[Stage[Recommendation]] = [
    Stage("check", None, _check),
    Stage("tables", None, _side_tables),
    Stage("train", None, _train),
    Stage("document", None, _document),
]
SAVE_STAGES: list[Stage[Recommendation]] = [
    Stage("card", "saving", _card),
    Stage("package", None, _package, timed=False),
]
REGISTER_STAGES: list[Stage[Recommendation]] = [
    Stage("registration", "registering", _register),
]


def stages(*, save: bool, register: bool) -> list[Stage[Recommendation]]:
    """The recommendation main job's stages for a run that saves and registers, or not."""
    return [
        *FIT_STAGES,
        *(SAVE_STAGES if save else []),
        *(REGISTER_STAGES if register else []),
    ]


# The public entry point's keywords (items and users beside train's): a ninth argument.
def train_recommendation(  # noqa: PLR0913
    spec: TaskSpec,
    data: Any = None,
    *,
    progress: Progress | None = None,
    items: Any = None,
    users: Any = None,
    save: bool = True,
    register: bool | None = None,
    out_dir: Path | None = None,
    started: float | None = None,
) -> RecommendRunResult:
    """The main job for a recommendation spec: check the log, evaluate by the spec's
    protocol, fit on every interaction, write the card, save and register. ``items`` and
    ``users`` (tables or paths) replace the spec's ``recommend.items`` and ``.users``. The
    time budget covers all of it, from ``started`` (default now) to the end of
    registration: the fit plans its steps within what is left (see docs/recommend.md)."""
    run = Run.begin(spec, progress, save=save, register=register, started=started)
    state = Recommendation(data, items, users, out_dir)
    run_stages(run, stages(save=run.save, register=run.register), state)
    run.close(state.model.metadata)
    return RecommendRunResult(
        state.model, state.checks, state.artifact_dir, state.registration, timings=run.timings
    )


def recommender_model_card(model: Recommender) -> Card:
    """A recommender's model card, from the evidence and the spec its artifact carries."""
    spec = spec_from_dict(model.metadata["spec"])
    return recommender_card(
        model,
        title=spec.task_name,
        question=spec.card.question,
        intended_use=spec.card.intended_use,
        out_of_scope=spec.card.out_of_scope,
        owner=spec.card.owner,
    )
