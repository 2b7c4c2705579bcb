"""Watching a served model: its logged traffic, window by window, against the reference
statistics its artifact keeps from training.

Per window: volume; each input's drift (``_drift``) and data quality (missing rate, new
categories, values outside the training range); the predictions' drift; for classifiers a
label-free estimate of performance from the model's own probabilities (confidence-based,
as NannyML's CBPE: valid when the model is calibrated, which its holdout calibration error
says); and once labels have arrived (``mlwright feedback``) the realised metric with its
interval. Windows with fewer rows than ``min_rows`` are reported as too small to judge,
never as "no drift". The thresholds come from the spec's ``[monitor]`` section.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import orjson
import polars as pl
import pydantic

from mlwright.artifact import Metrics, Model, Reference, class_name, jsonable
from mlwright.errors import DataError, SpecError
from mlwright.evaluate import bootstrap_interval, greater_is_better, score
from mlwright.monitor._drift import shift
from mlwright.monitor._feedback import as_utc, read_labels, utc
from mlwright.serve import Records, read_log
from mlwright.spec._model import MonitorSection

Status = Literal["ok", "alert", "too few rows"]
# Holdout calibration error above which the label-free estimate is shown but not trusted.
MAX_ECE_FOR_ESTIMATE = 0.05
# Family-wise false-alarm rate of the drift checks of one window, split over its columns.
FAMILY_ALPHA = 0.01
BOOTSTRAP = 200
Z95 = 1.959963984540054
# A performance alert needs the drop beyond 3 standard errors of the difference (one-sided
# 0.1%): with a window a day, 2 SE would cry wolf about once a month on a quiet model.
Z_ALERT = 3.0


@dataclass
class Window:
    """One window of traffic and what was found in it."""

    start: dt.datetime
    end: dt.datetime
    rows: int
    status: Status = "ok"
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictions: dict[str, Any] | None = None
    estimated: dict[str, Any] | None = None
    realised: dict[str, Any] | None = None
    alerts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "status": self.status,
            "alerts": self.alerts,
            "drift": self.drift,
            "quality": self.quality,
            "predictions": self.predictions,
            "estimated": self.estimated,
            "realised": self.realised,
        }


@dataclass
class MonitorReport:
    """Everything ``mlwright monitor`` found; ``status`` is "alert" when any window alerts."""

    model_name: str
    model_version: str
    problem_type: str
    metric: str
    holdout: dict[str, float]
    settings: dict[str, Any]
    since: dt.datetime | None
    until: dt.datetime | None
    rows: int
    labelled: int
    windows: list[Window]
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> Literal["ok", "alert"]:
        return "alert" if any(w.status == "alert" for w in self.windows) else "ok"

    @property
    def exit_code(self) -> int:
        return 1 if self.status == "alert" else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "problem_type": self.problem_type,
            "metric": self.metric,
            "holdout": self.holdout,
            "status": self.status,
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "rows": self.rows,
            "labelled": self.labelled,
            "settings": self.settings,
            "notes": self.notes,
            "windows": [w.to_dict() for w in self.windows],
        }

    def to_json(self) -> bytes:
        return orjson.dumps(jsonable(self.to_dict()), option=orjson.OPT_INDENT_2)


WHAT_COMMANDS_JUDGE = {
    "monitor": "watches a table model's served traffic (input drift, data quality, "
    "performance against late labels)",
    "feedback": "joins late labels to a table model's logged predictions",
}


def require_table_model(model: object, command: str, reference: str = "the model") -> Model:
    """``model`` when it predicts a table's rows. A recommender's answers are ranked lists
    with no inputs or labels to judge, so ``command`` refuses it with what to do instead:
    a usage error (exit 2), not a damaged artifact."""
    if isinstance(model, Model):
        return model
    raise SpecError(
        f"{reference} is a recommender; `mlwright {command}` "
        f"{WHAT_COMMANDS_JUDGE.get(command, 'judges table models only')}, and recommenders "
        "are not monitored yet",
        field=reference,
        hint="judge a recommender by its card's held-out NDCG beside popularity (`mlwright "
        "report MODEL`); to refresh it, `mlwright run SPEC` on the grown interaction log "
        'registers a challenger, and `mlwright promote NAME --force --reason "..."` '
        "makes it the champion",
    )


def settings_for(model: Model, **overrides: Any) -> MonitorSection:
    """The model's ``[monitor]`` settings with the given (non-None) fields replaced."""
    base = model.spec.monitor
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return base
    try:
        return MonitorSection.model_validate({**base.model_dump(), **given})
    except pydantic.ValidationError as exc:  # its message names the field
        raise SpecError(f"bad monitor option: {exc}", field="monitor") from None


def monitor(
    model: Model,
    log_url: str,
    *,
    model_name: str,
    model_version: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    settings: MonitorSection | None = None,
) -> MonitorReport:
    """Judge the logged traffic of ``model_name`` ``model_version`` in windows."""
    require_table_model(model, "monitor", model_name)
    settings = settings or model.spec.monitor
    reference = _binned_reference(model)
    since, until = utc(since), utc(until)
    traffic = _logged_traffic(model, log_url, model_name, model_version, since=since, until=until)
    metrics = run_metrics(model)
    holdout = {k: float(v) for k, v in metrics.holdout.all.items() if v is not None}
    report = MonitorReport(
        model_name=model_name,
        model_version=model_version,
        problem_type=model.problem_type,
        metric=metrics.metric,
        holdout=holdout,
        settings=settings.model_dump(),
        since=since,
        until=until,
        rows=len(traffic.ids),
        labelled=len(traffic.labels),
        windows=[],
    )
    ece = _holdout_ece(metrics)
    if model.problem_type != "regression" and ece is not None and ece > MAX_ECE_FOR_ESTIMATE:
        report.notes.append(
            f"the label-free estimate assumes calibrated probabilities; this model's holdout "
            f"calibration error is {ece:.3f} (> {MAX_ECE_FOR_ESTIMATE}), so it raises no alert"
        )
    judged = _Judge(model, settings, reference, holdout, ece)
    report.windows = _judged_windows(judged, traffic, settings.window)
    return report


def run_metrics(model: Model) -> Metrics:
    """The evaluation a trained model carries; one built without a run has none."""
    metrics = model.evidence.metrics
    if metrics is None:
        raise DataError(
            "this model carries no evaluation from a training run to judge traffic against",
            field="metrics",
            hint="monitor a model trained by mlwright run (or mlwright.fit)",
        )
    return metrics


def _binned_reference(model: Model) -> Reference:
    """The reference statistics of the model's artifact, which must bin its features."""
    reference = model.evidence.reference
    features_ref = reference.features if reference is not None else {}
    if not features_ref or not any("bins" in s or "top" in s for s in features_ref.values()):
        raise DataError(
            "this model's artifact keeps no binned reference statistics to compare traffic with",
            field="reference",
            hint="retrain it with this version of mlwright (mlwright run SPEC)",
        )
    assert reference is not None
    return reference


@dataclass
class _Traffic:
    """The logged answers of one model version, in order, with the labels that arrived."""

    ids: list[str]
    times: list[dt.datetime]
    inputs: pl.DataFrame  # as the model reads them
    outputs: list[Any]
    labels: dict[str, Any]  # prediction id -> label


def _logged_traffic(
    model: Model,
    log_url: str,
    model_name: str,
    model_version: str,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> _Traffic:
    """The answers of ``model_name`` ``model_version`` in the log (a DataError when none)."""
    rows = read_log(
        log_url,
        model_name=model_name,
        model_version=model_version,
        endpoint=("predict", "shadow"),  # a shadow challenger's answers are its traffic
        since=since,
        until=until,
    )
    if not rows:
        raise DataError(
            f"the prediction log holds no answers of {model_name} version {model_version}"
            + (f" since {since.isoformat()}" if since else "")
            + (f" before {until.isoformat()}" if until else ""),
            field="log",
            hint="check --log (the URL the service was started with), the model reference "
            "and --since; the service logs every answer of POST /predict",
        )
    ids = [r["prediction_id"] for r in rows]
    return _Traffic(
        ids=ids,
        times=[as_utc(r["created_at"]) for r in rows],
        inputs=Records([orjson.loads(r["inputs"]) for r in rows], single=False).frame(model.inputs),
        outputs=[orjson.loads(r["outputs"]) for r in rows],
        labels=read_labels(log_url, ids),
    )


def _judged_windows(judged: _Judge, traffic: _Traffic, seconds: float) -> list[Window]:
    """Every window of ``seconds`` from the first answer to the last, empty ones included."""
    index = np.asarray([math.floor(t.timestamp() / seconds) for t in traffic.times], dtype=np.int64)
    windows = []
    for k in range(int(index.min()), int(index.max()) + 1):
        at = np.flatnonzero(index == k)
        start = dt.datetime.fromtimestamp(k * seconds, dt.UTC)
        window = Window(start, start + dt.timedelta(seconds=seconds), len(at))
        judged.window(
            window,
            traffic.inputs[at.tolist()] if len(at) else traffic.inputs.clear(),
            [traffic.outputs[i] for i in at],
            [traffic.labels.get(traffic.ids[i]) for i in at],
        )
        windows.append(window)
    return windows


class _Judge:
    """The checks of one window, with what they compare against."""

    def __init__(
        self,
        model: Model,
        settings: MonitorSection,
        reference: Reference,
        holdout: Mapping[str, float],
        ece: float | None,
    ):
        self.model = model
        self.s = settings
        self.features: Mapping[str, Any] = reference.features
        self.predictions: Mapping[str, Any] = reference.predictions
        self.holdout = holdout
        metrics = run_metrics(model)
        self.scores = metrics.holdout
        self.metric = metrics.metric
        self.trust_estimate = ece is None or ece <= MAX_ECE_FOR_ESTIMATE
        self.reference_estimates = _reference_estimates(model, self.predictions)
        judged = [f for f in model.inputs if f.name in self.features]
        # Bonferroni over the columns judged (and the predictions).
        self.alpha = FAMILY_ALPHA / (len(judged) + 1)

    def window(
        self,
        window: Window,
        inputs: pl.DataFrame,
        outputs: list[dict[str, Any]],
        labels: list[Any],
    ) -> None:
        if window.rows < self.s.min_rows:
            window.status = "too few rows"
            window.alerts = []
            self._realised(window, outputs, labels)  # labels are judged on their own count
            return
        for f in self.model.inputs:
            stats = self.features.get(f.name)
            if stats is None:
                continue
            column = inputs[f.name]
            values = _values(column, f.kind)
            moved = shift(
                stats, values, warn=self.s.psi_warn, alert=self.s.psi_alert, alpha=self.alpha
            )
            if moved is not None:
                window.drift[f.name] = moved.to_dict()
                if moved.level == "drift":
                    window.alerts.append(
                        f"input '{f.name}' drifted: PSI {moved.psi:.3f} >= {self.s.psi_alert}"
                    )
            window.quality[f.name] = self._quality(window, f.name, f.kind, stats, column, values)
        answered = self._answered(outputs)
        self._predictions(window, answered)
        self._estimate(window, answered)
        self._realised(window, outputs, labels)
        window.status = "alert" if window.alerts else "ok"

    # -- data quality ----------------------------------------------------------------------

    def _quality(
        self,
        window: Window,
        name: str,
        kind: str,
        stats: Mapping[str, Any],
        column: pl.Series,
        values: np.ndarray,
    ) -> dict[str, Any]:
        n = len(column)
        missing = column.null_count() / n if n else 0.0
        ref_missing = float(stats.get("missing_rate", 0.0))
        out: dict[str, Any] = {"missing_rate": missing, "reference_missing_rate": ref_missing}
        # An effect (max_missing_increase) beyond the binomial noise of the window (4 SE).
        noise = 4.0 * math.sqrt(max(ref_missing * (1 - ref_missing), 1.0 / n) / n)
        if missing - ref_missing > max(self.s.max_missing_increase, noise):
            window.alerts.append(
                f"input '{name}' is missing in {missing:.1%} of rows (training: {ref_missing:.1%})"
            )
        present = n - column.null_count()
        if kind in ("numeric", "boolean") and "percentiles" in stats and present:
            low, high = stats["percentiles"][0], stats["percentiles"][-1]
            numbers = values[~np.isnan(values)]
            outside = int(np.sum((numbers < low) | (numbers > high)))
            share = outside / present
            out.update({"out_of_range": outside, "out_of_range_share": share})
            # A new value falls outside the range of m reference values with probability
            # 2 / (m + 1) even when nothing changed; alert beyond that and its noise.
            m = int(stats.get("rows", 0) * (1.0 - ref_missing))
            expected = 2.0 / (m + 1)
            noise = expected + 4.0 * math.sqrt(expected / present)
            if share > max(self.s.max_out_of_range_share, noise):
                window.alerts.append(
                    f"input '{name}': {share:.1%} of values outside the training range "
                    f"[{low:g}, {high:g}]"
                )
        if kind == "categorical" and stats.get("complete") and present:
            known = set(stats.get("top", {}))
            seen = column.drop_nulls().value_counts(sort=True)
            new = [(str(v), int(c)) for v, c in seen.iter_rows() if str(v) not in known]
            share = sum(c for _, c in new) / present
            out.update({"new_categories": dict(new[:10]), "new_category_share": share})
            if share > self.s.max_new_category_share:
                shown = ", ".join(repr(v) for v, _ in new[:3])
                window.alerts.append(
                    f"input '{name}': {share:.1%} of values are categories unseen in training "
                    f"({shown})"
                )
        return out

    # -- predictions -----------------------------------------------------------------------

    def _answered(self, outputs: list[dict[str, Any]]) -> np.ndarray:
        """What the model answered: the values, or the probability matrix (class columns
        in the model's order)."""
        if self.model.problem_type == "regression":
            return np.asarray([o["prediction"] for o in outputs], dtype=np.float64)
        names = self.model.class_names
        return np.asarray(
            [[o["probabilities"][c] for c in names] for o in outputs], dtype=np.float64
        )

    def _predictions(self, window: Window, answered: np.ndarray) -> None:
        """The prediction watched: the value, the positive class's probability, or (for
        multiclass) the most probable class."""
        ref = self.predictions
        kind = self.model.problem_type
        scores = (
            answered
            if kind == "regression"
            else answered[:, 1]
            if kind == "binary"
            else answered.argmax(axis=1).astype(np.float64)
        )
        if self.model.problem_type == "multiclass":
            shares = ref.get("class_share")
            if not shares:
                return
            names = self.model.class_names
            stats: dict[str, Any] = {
                "rows": ref.get("rows", 0),
                "top": {n: shares[n] for n in names},
            }
            values: np.ndarray = np.asarray([names[int(k)] for k in scores], dtype=object)
        else:
            if "score" not in ref:
                return
            stats = {"rows": ref.get("rows", 0), **ref["score"]}
            values = scores
        moved = shift(stats, values, warn=self.s.psi_warn, alert=self.s.psi_alert, alpha=self.alpha)
        if moved is None:
            return
        summary: dict[str, Any] = moved.to_dict()
        if self.model.problem_type == "regression":
            summary["mean"] = float(np.mean(scores))
        elif self.model.problem_type == "binary":
            summary["mean_probability"] = float(np.mean(scores))
        window.predictions = summary
        if moved.level == "drift":
            window.alerts.append(f"the predictions drifted: PSI {moved.psi:.3f}")

    # -- performance -----------------------------------------------------------------------

    def _estimate(self, window: Window, proba: np.ndarray) -> None:
        """Confidence-based performance estimation (classifiers): each row is right with
        the probability of its most probable class; ROC AUC from expected pairs. Compared
        with the same estimate on the holdout's predictions (from the reference), so that a
        model's residual miscalibration biases both sides alike."""
        model = self.model
        if model.problem_type == "regression":
            return
        estimates: dict[str, Any] = {}
        rng = np.random.default_rng(0)
        draws = rng.integers(0, len(proba), (BOOTSTRAP, len(proba)))
        confidence = proba.max(axis=1)
        estimates["accuracy"] = _with_interval(confidence.mean(), confidence[draws].mean(axis=1))
        if model.problem_type == "binary":
            p = proba[:, 1]
            spread = np.asarray([expected_auc(p[d]) for d in draws])
            estimates["roc_auc"] = _with_interval(expected_auc(p), spread)
        window.estimated = {
            "metrics": estimates,
            "reference": {k: v[0] for k, v in self.reference_estimates.items()},
            "trusted": self.trust_estimate,
        }
        if not self.trust_estimate:
            return
        for metric, interval in estimates.items():
            base = self.reference_estimates.get(metric)
            message = None if base is None else self._worse(metric, interval, base, "estimated")
            if message:
                window.alerts.append(message)

    def _realised(self, window: Window, outputs: list[dict[str, Any]], labels: list[Any]) -> None:
        model = self.model
        known = [i for i, label in enumerate(labels) if label is not None]
        if not known:
            return
        window.realised = {"labelled": len(known)}
        if len(known) < self.s.min_labels:
            window.realised["status"] = "too few labels"
            return
        metric = self.metric
        if model.problem_type == "regression":
            y = np.asarray([float(labels[i]) for i in known])
            pred = np.asarray([float(outputs[i]["prediction"]) for i in known])
        else:
            names = model.class_names
            y = np.asarray([names.index(class_name(labels[i])) for i in known])
            pred = np.asarray([[outputs[i]["probabilities"][c] for c in names] for i in known])
        try:
            interval = bootstrap_interval(metric, y, pred, n_boot=BOOTSTRAP)
            value = score(metric, y, pred)
        except ValueError as exc:  # e.g. ROC AUC on a window of one class
            window.realised["status"] = f"not defined: {exc}"
            return
        found = {"value": value, "low": interval.low, "high": interval.high}
        window.realised.update({"status": "judged", "metric": metric, **found})
        base = self.holdout_score(metric)
        message = None if base is None else self._worse(metric, found, base, "realised")
        if message:
            window.alerts.append(message)
            if window.status == "too few rows":
                window.status = "alert"

    def _worse(
        self, metric: str, found: Mapping[str, float], base: tuple[float, float], how: str
    ) -> str | None:
        """An alert when ``found`` is worse than ``base`` (the holdout's value and standard
        error) by more than the relative ``max_performance_drop`` and by more than the two
        estimates' noise together (the holdout is a sample too)."""
        value, low, high = found["value"], found["low"], found["high"]
        spread = math.hypot((high - low) / (2 * Z95), base[1])
        drop = (base[0] - value) if greater_is_better(metric) else (value - base[0])
        if drop > self.s.max_performance_drop * abs(base[0]) and drop > Z_ALERT * spread:
            return (
                f"{how} {metric} {value:.4f} [{low:.4f}, {high:.4f}] is worse than the "
                f"holdout's {base[0]:.4f} by more than {self.s.max_performance_drop:.0%} "
                "and more than the noise of both"
            )
        return None

    def holdout_score(self, metric: str) -> tuple[float, float] | None:
        """The holdout's ``metric`` and its standard error (from its bootstrap interval for
        the model's metric, binomial for accuracy, else unknown: 0)."""
        if metric not in self.holdout:
            return None
        value = self.holdout[metric]
        interval, rows = self.scores.model, self.scores.rows
        if metric == self.metric:
            return value, (interval.high - interval.low) / (2 * Z95)
        if metric == "accuracy" and rows:
            return value, math.sqrt(max(value * (1 - value), 1e-6) / rows)
        return value, 0.0


def expected_auc(p: np.ndarray) -> float:
    """The ROC AUC expected when each row is positive with probability ``p`` (independent
    rows, calibrated ``p``): expected concordant positive-negative pairs over expected pairs,
    ties counting half, a row never paired with itself."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    p_sorted = p[order]
    negative = 1.0 - p_sorted
    # Expected negatives strictly below each score, and among equal scores.
    first = np.unique(p_sorted, return_index=True)[1]
    group_negative = np.add.reduceat(negative, first)
    below = np.concatenate([[0.0], np.cumsum(group_negative)[:-1]])
    group_positive = np.add.reduceat(p_sorted, first)
    self_pairs = np.add.reduceat(p_sorted * negative, first)
    concordant = np.sum(group_positive * below) + 0.5 * np.sum(
        group_positive * group_negative - self_pairs
    )
    pairs = p.sum() * (1.0 - p).sum() - np.sum(p * (1.0 - p))
    return float(concordant / pairs) if pairs > 0 else float("nan")


def _reference_estimates(
    model: Model, predictions: Mapping[str, Any]
) -> dict[str, tuple[float, float]]:
    """The label-free estimates on the holdout's predictions, from their stored
    distribution (100 equal-mass points between its percentiles), with standard errors."""
    rows = int(predictions.get("rows") or 0)
    if model.problem_type == "regression" or rows == 0:
        return {}
    out: dict[str, tuple[float, float]] = {}
    if model.problem_type == "binary" and "score" in predictions:
        points = _midpoints(predictions["score"]["percentiles"])
        accuracy = float(np.mean(np.maximum(points, 1.0 - points)))
        auc = expected_auc(points)
        positives = max(1.0, rows * float(np.mean(points)))
        negatives = max(1.0, rows - positives)
        out["roc_auc"] = (auc, _auc_se(auc, positives, negatives))
    elif "confidence" in predictions:
        accuracy = float(np.mean(_midpoints(predictions["confidence"]["percentiles"])))
    else:
        return out
    out["accuracy"] = (accuracy, math.sqrt(max(accuracy * (1 - accuracy), 1e-6) / rows))
    return out


def _midpoints(percentiles: list[float]) -> np.ndarray:
    values = np.asarray(percentiles, dtype=np.float64)
    return (values[1:] + values[:-1]) / 2.0


def _auc_se(auc: float, positives: float, negatives: float) -> float:
    """Hanley and McNeil's (1982) standard error of a ROC AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(var, 0.0))


def _with_interval(value: float, spread: np.ndarray) -> dict[str, float]:
    low, high = np.nanquantile(spread, [0.025, 0.975])
    return {"value": float(value), "low": float(low), "high": float(high)}


def _values(column: pl.Series, kind: str) -> np.ndarray:
    if kind in ("numeric", "boolean"):
        return column.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return np.asarray(column.cast(pl.String).to_list(), dtype=object)


def _holdout_ece(metrics: Metrics) -> float | None:
    """The calibration error on the holdout of the probabilities as served, when measured."""
    if metrics.calibration is None or metrics.calibration.holdout is None:
        return None
    return metrics.calibration.holdout.ece_after
