"""What a model card is written from: the model and the typed evidence of its run, read once
(``Model.evidence`` checks the metadata again on each access), with the run's metric and
its business values written in the spec's unit."""

from __future__ import annotations

from dataclasses import dataclass

from mlwright.artifact import Evidence, Metrics, Model
from mlwright.report import _format as fmt


@dataclass(frozen=True)
class Run:
    model: Model
    evidence: Evidence

    @classmethod
    def of(cls, model: Model) -> Run:
        return cls(model, model.evidence)

    @property
    def metrics(self) -> Metrics | None:
        """The run's scores; None for a model built without a run."""
        return self.evidence.metrics

    @property
    def metric(self) -> str:
        """The metric the run measured; the spec's for a model without a run."""
        return self.metrics.metric if self.metrics is not None else self.model.spec.task.metric

    def money(self, value: float | None) -> str:
        """A business value in the spec's unit (value.currency)."""
        return fmt.money(value, self.model.spec.value.currency)

    def money_interval(self, estimate: fmt.Estimate | None) -> str:
        return fmt.money_interval(estimate, self.model.spec.value.currency)
