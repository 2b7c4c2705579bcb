"""The main job for a prediction task (binary, multiclass, regression) as a list of stages:
check -> frame -> features -> search -> measure -> select -> evaluate -> refit -> analyse ->
document -> card -> package -> register."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlwright._progress import Progress
from mlwright.artifact import Model
from mlwright.data import fingerprint
from mlwright.errors import TrainingError
from mlwright.pipeline import (
    _analyse,
    _document,
    _evaluate,
    _prepare,
    _refit,
    _search,
    _stacking,
)
from mlwright.pipeline._check import Checked, checked_for_training
from mlwright.pipeline._package import card_documents, default_out_dir
from mlwright.pipeline._register import StoreOpener, register_model
from mlwright.pipeline._runner import Run, Stage, run_stages
from mlwright.registry import Registration
from mlwright.report import model_card
from mlwright.search import Prepared, SearchResult, Selection
from mlwright.spec import TaskSpec


@dataclass
class RunResult:
    model: Model
    checked: Checked
    search: SearchResult
    artifact_dir: Path | None = None
    registration: Registration | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Tabular:
    """A tabular run's state: each stage reads the fields earlier stages set."""

    data: Any
    resume: bool
    out_dir: Path | None
    checked: Checked = field(init=False)
    framed: _prepare.Framed = field(init=False)
    make_model: _prepare.ModelFactory = field(init=False)
    data_fingerprint: str = field(init=False)
    work: Path = field(init=False)
    gpu: bool = field(init=False)
    prepared: Prepared = field(init=False)
    searched: SearchResult = field(init=False)
    selection: Selection = field(init=False)
    evaluated: _evaluate.Evaluated = field(init=False)
    shipped: _refit.Refitted = field(init=False)
    documents: dict[str, str] = field(init=False)
    artifact_dir: Path | None = None
    registration: Registration | None = None

    @property
    def model(self) -> Model:
        return self.shipped.model

    @property
    def metrics(self) -> dict[str, Any]:
        return self.evaluated.metrics


def _check(run: Run, s: Tabular) -> None:
    s.checked = checked_for_training(run.spec, s.data, run.progress)
    run.spec = s.checked.spec
    # What follows the work (card, save, registration) is kept free at the end of the budget.
    run.clock = run.clock.keeping(run.finish)


def _frame(run: Run, s: Tabular) -> None:
    s.framed = _prepare.frame_for_search(run, s.checked)
    s.make_model = _prepare.ModelFactory(run.spec, s.framed.classes, s.framed.inputs)
    # Registering's slow part, opening a new MLflow store, starts beside the search; only
    # once the data and the budget have passed their checks (a refused run creates nothing).
    if run.register:
        run.store = StoreOpener(run.spec.registry.tracking_uri)


def _features(run: Run, s: Tabular) -> None:
    s.data_fingerprint = fingerprint(s.checked.frame)
    s.work = run.resources.enter_context(
        _prepare.work_dir(
            run.spec, s.data_fingerprint, s.framed.scale, persist=run.save, resume=s.resume
        )
    )
    why_not = _stacking.stacking_plan(run.spec, s.framed, run.budget - run.finish)
    stack, note = _stacking.kept_decision(s.work, why_not is None, resume=s.resume)
    if note is not None:
        run.progress.log(note)
        why_not = None if stack else "the interrupted run it resumes did not stack"
    if why_not:
        run.skipped[_stacking.STACK_SKIPPED] = why_not
        run.progress.log(f"{_stacking.STACK_SKIPPED} not tried: {why_not}")
    split = _stacking.search_split(run.spec, s.framed, stack=stack)
    s.prepared = _prepare.prepare_features(s.framed, run.spec, s.work, split)


def _search_stage(run: Run, s: Tabular) -> None:
    s.gpu = _search.use_gpu(run)
    s.searched = _search.search(run, s.framed, s.prepared, s.work, resume=s.resume, gpu=s.gpu)


def _store_import(run: Run, s: Tabular) -> None:
    # A single-row latency measured beside MLflow's import would not be the model's.
    assert run.store is not None
    run.store.wait_imported()


def _measure(run: Run, s: Tabular) -> None:
    _search.measure(run, s.searched, s.make_model, s.framed)


def _select(run: Run, s: Tabular) -> None:
    s.selection = _search.choose(run, s.searched, s.make_model, s.framed)


def _evaluate_stage(run: Run, s: Tabular) -> None:
    s.evaluated = _evaluate.evaluate_on_holdout(
        run, s.framed, s.searched, s.selection, s.make_model
    )


def _refit_stage(run: Run, s: Tabular) -> None:
    s.shipped = _refit.refit(
        run,
        s.framed,
        s.searched,
        s.prepared,
        selection=s.evaluated.selection,
        make_model=s.make_model,
        gpu=s.gpu,
    )
    kept = _refit.keep_within_target(
        run, s.framed, s.searched, s.evaluated, s.shipped, s.make_model
    )
    if kept is not None:
        s.evaluated, s.shipped = kept
    _refit.say_if_over_target(run, s.shipped, len(s.evaluated.selection.weights))


def _complexity(run: Run, s: Tabular) -> None:
    s.metrics["complexity"] = _analyse.weigh_complexity(
        run, s.framed, s.searched, s.evaluated, s.make_model
    )


def _learning_curve(run: Run, s: Tabular) -> None:
    s.metrics["learning_curve"] = _analyse.curve(run, s.prepared, s.searched)


def _importance(run: Run, s: Tabular) -> None:
    _document.ship(s.model, s.evaluated.evaluation)
    s.metrics["importance"] = _analyse.importance(run, s.model, s.framed)


def _document_stage(run: Run, s: Tabular) -> None:
    s.model.metadata.update(
        _document.evidence(
            run,
            s.checked,
            s.framed,
            searched=s.searched,
            evaluated=s.evaluated,
            shipped=s.shipped,
            data_fingerprint=s.data_fingerprint,
        )
    )
    s.model.metadata["budget"] = _document.budget_evidence(run, s.metrics)


def _card(run: Run, s: Tabular) -> None:
    s.documents = card_documents(model_card(s.model))


def _package(run: Run, s: Tabular) -> None:
    s.model.metadata["timings"] = run.record_timings()
    with run.timed("save"):
        s.artifact_dir = s.model.save(s.out_dir or default_out_dir(run.spec), documents=s.documents)
    s.model.metadata["path"] = str(s.artifact_dir)


def _register(run: Run, s: Tabular) -> None:
    assert run.store is not None
    assert s.artifact_dir is not None
    run.timings["store_wait"] = run.store.wait()
    s.registration = register_model(s.model, s.artifact_dir, run.spec, s.searched)
    s.model.registry = s.registration.to_dict()


# (name, progress label, stage); the analysis stages time themselves where their own
# measurement is the number that matters.
SEARCH_STAGES: list[Stage[Tabular]] = [
    Stage("check", None, _check),
    Stage("frame", None, _frame),
    Stage("features", "preparing features for each fold", _features),
    Stage("search", None, _search_stage),
]
# Only a run that registers imports MLflow beside the search.
STORE_IMPORT_STAGE: Stage[Tabular] = Stage("store_import_wait", None, _store_import)
CHOOSE_STAGES: list[Stage[Tabular]] = [
    Stage("measure", "measuring each candidate's single-row latency and size", _measure),
    Stage("select", "selecting the model", _select),
    Stage("evaluate", "evaluating on the holdout", _evaluate_stage),
    Stage("refit", None, _refit_stage),
    Stage("complexity", "weighing each step up in complexity", _complexity),
    Stage(
        "learning_curve",
        "measuring how the score grows with the training rows",
        _learning_curve,
        timed=False,
    ),
    Stage("importance", "measuring what each input contributes", _importance, timed=False),
    Stage("document", None, _document_stage),
]
SAVE_STAGES: list[Stage[Tabular]] = [
    Stage("card", "writing the model card", _card),
    Stage("package", "saving the artifact", _package, timed=False),
]
REGISTER_STAGES: list[Stage[Tabular]] = [
    Stage("registration", "registering in MLflow", _register),
]


def stages(*, save: bool, register: bool) -> list[Stage[Tabular]]:
    """The tabular main job's stages for a run that saves and registers, or does not."""
    return [
        *SEARCH_STAGES,
        *([STORE_IMPORT_STAGE] if register else []),
        *CHOOSE_STAGES,
        *(SAVE_STAGES if save else []),
        *(REGISTER_STAGES if register else []),
    ]


def train(
    spec: TaskSpec,
    data: Any = None,
    *,
    progress: Progress | None = None,
    save: bool = True,
    register: bool | None = None,
    out_dir: Path | None = None,
    resume: bool = False,
    started: float | None = None,
) -> RunResult:
    """Check, search, choose, evaluate on the holdout, refit, and (optionally) save and
    register. ``resume`` reuses the finished trials of an interrupted run of the same spec
    on the same data. The time budget covers all of it, from ``started`` (the command's
    ``time.monotonic()`` start; default now) to the end of registration."""
    if spec.task.is_recommendation:
        raise TrainingError(
            "this spec is a recommendation task; train() fits prediction tasks",
            hint="use train_recommendation (mlwright run and mlwright.run choose it for you)",
        )
    run = Run.begin(spec, progress, save=save, register=register, started=started)
    state = run_stages(
        run, stages(save=run.save, register=run.register), Tabular(data, resume, out_dir)
    )
    run.close(state.model.metadata)
    return RunResult(
        model=state.model,
        checked=state.checked,
        search=state.searched,
        artifact_dir=state.artifact_dir,
        registration=state.registration,
        timings=run.timings,
    )
