"""The runner: one loop over a task type's list of stages.

A stage is a named step that reads what earlier stages left in the run's state and adds
its own result. The runner owns what every stage shares: the progress display, the timing
of each stage, the clock of the time budget, the resources that live until the run ends
(the search's work folder), and interruption (a SIGTERM between stages ends the run there).
Tabular prediction and recommendation are two lists of stages over this runner
(``_tabular.STAGES``, ``_recommend.STAGES``); a new task type is a new list.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mlwright._clock import Clock
from mlwright._interrupt import raise_if_terminated
from mlwright._progress import Progress, Silent
from mlwright.pipeline._budget import finish_clock, finish_seconds
from mlwright.pipeline._register import StoreOpener
from mlwright.spec import TaskSpec

State = TypeVar("State")


@dataclass
class Run:
    """What every stage of one run shares."""

    spec: TaskSpec
    progress: Progress
    clock: Clock
    save: bool
    register: bool
    # Seconds kept free at the end of the budget for the card, saving and registering.
    finish: float
    timings: dict[str, float] = field(default_factory=dict)
    # Steps the run left out, each with the reason it was measured to have.
    skipped: dict[str, str] = field(default_factory=dict)
    # The refit's expected and measured seconds (None: no refit ran), for the evidence.
    refit_seconds: dict[str, float] | None = None
    store: StoreOpener | None = None
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @classmethod
    def begin(
        cls,
        spec: TaskSpec,
        progress: Progress | None,
        *,
        save: bool,
        register: bool | None,
        started: float | None,
    ) -> Run:
        """A run of ``spec`` whose budget counts from ``started`` (default now). ``register``
        None follows the spec; only a saved model is registered."""
        registers = save and (spec.registry.enabled if register is None else register)
        return cls(
            spec=spec,
            progress=progress if progress is not None else Silent(),
            clock=Clock.start(spec.constraints.time_budget, started),
            save=save,
            register=registers,
            finish=finish_seconds(save=save, register=registers),
        )

    def close(self, metadata: dict[str, Any]) -> None:
        """The run's timings into the model's ``metadata`` (a saved run wrote them before
        saving), with the whole run's wall time; says if it overran the budget."""
        if not self.save:
            metadata["timings"] = self.record_timings()
        metadata["timings"]["wall"] = self.finish_wall()

    @property
    def started(self) -> float:
        return self.clock.started

    @property
    def budget(self) -> float:
        return self.clock.budget

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Record in ``timings[step]`` the seconds the block took."""
        began = time.monotonic()
        yield
        self.timings[step] = time.monotonic() - began

    def record_timings(self) -> dict[str, float]:
        """The run's timings so far, rounded for the manifest: saving and registering come
        after them, the whole run's wall time is added at its end."""
        self.timings["until_save"] = time.monotonic() - self.started
        return {k: round(v, 3) for k, v in self.timings.items()}

    def finish_wall(self) -> float:
        """The run's wall time, registration included; says if it overran the budget."""
        return round(finish_clock(self.timings, self.started, self.budget, self.progress), 3)


@dataclass(frozen=True)
class Stage(Generic[State]):
    """One step of a task type's main job."""

    name: str  # its key in the run's timings
    label: str | None  # what the progress display shows while it runs; None: nothing new
    apply: Callable[[Run, State], None]
    timed: bool = True  # False: the stage records its own timings


def run_stages(run: Run, stages: Sequence[Stage[State]], state: State) -> State:
    """Run each stage in order; the run's resources are released at the end (or on error,
    where a work folder kept for ``--resume`` stays)."""
    with run.resources:
        for stage in stages:
            raise_if_terminated()
            if stage.label is not None:
                run.progress.stage(stage.label)
            if not stage.timed:
                stage.apply(run, state)
                continue
            with run.timed(stage.name):
                stage.apply(run, state)
    return state
