"""What the evidence says against the model, for the model card: the holdout contradicting
the model's own numbers, the complexity ladder's reading, and the caveats section that
opens with them."""

from __future__ import annotations

import math
import statistics

from mlwright.artifact import Complexity, LadderStep, Metrics
from mlwright.evaluate import greater_is_better, proportion_interval
from mlwright.report import _format as fmt
from mlwright.report._page import Section
from mlwright.report._run import Run

# Warnings from the evidence are set at 99%, so that an honest model rarely trips one.
WARN_Z = 2.5758293035489004
Z95 = 1.959963984540054


def evidence_warnings(run: Run) -> list[str]:
    """What the holdout says against the model's own numbers, first among the caveats:
    intervals that cover far less than promised, a negative R², cross-validation and the
    holdout disagreeing beyond their noise."""
    metrics = run.metrics
    if metrics is None:
        return []
    found = (
        _coverage_warning(run, metrics),
        _r2_warning(run, metrics),
        _cv_holdout_warning(run, metrics),
    )
    return [w for w in found if w]


def _later_period(run: Run) -> str:
    time = run.model.spec.task.time
    return f" (the holdout is the latest period by '{time}')" if time else ""


def _coverage_warning(run: Run, metrics: Metrics) -> str | None:
    """Some level lies above the 99% Wilson interval of its observed holdout coverage."""
    intervals = metrics.intervals
    rows = metrics.holdout.rows
    if intervals is None or not rows:
        return None
    short = []
    for key, level in sorted(intervals.levels.items(), key=lambda kv: float(kv[0])):
        observed = level.holdout_coverage.value
        band = proportion_interval(round(observed * rows), rows, z=WARN_Z)
        if float(key) > band.high:
            short.append(
                f"the {fmt.percent(float(key), 0)} intervals covered {fmt.percent(observed)} "
                f"(99% interval {fmt.percent(band.low)} to {fmt.percent(band.high)})"
            )
    if not short:
        return None
    return (
        f"The prediction intervals cover far less than they promise on the {fmt.number(rows)} "
        f"holdout rows{_later_period(run)}: {'; '.join(short)}. They were fitted on the "
        "out-of-fold errors of the training rows, and the holdout's errors are larger. Do "
        "not read them at their stated level: a stated interval covers new rows about as "
        "often as it covered the holdout's."
    )


def _r2_warning(run: Run, metrics: Metrics) -> str | None:
    r2 = metrics.holdout.all.get("r2")
    if run.model.problem_type != "regression" or r2 is None or not r2 < 0.0:
        return None
    time = run.model.spec.task.time
    why = (
        f"The holdout is the latest period by '{time}': a target that moves "
        "beyond the levels of the training period (a trend, a shift) is not followed."
        if time
        else "The holdout rows differ from the training rows, or the model has not learnt "
        "the target."
    )
    return (
        f"R² on the holdout is {fmt.number(r2)}: the predictions are further from the truth "
        f"than the holdout's own mean would be. {why} Compare it with the baseline and read "
        "the residuals before any use."
    )


def _cv_holdout_warning(run: Run, metrics: Metrics) -> str | None:
    """The holdout score and the cross-validated score differ by more than WARN_Z standard
    errors of their difference: the folds' spread over sqrt(folds), and the holdout
    bootstrap interval's half-width over 1.96, combined."""
    cv, hold = metrics.cv, metrics.holdout.model
    folds = cv.folds
    if len(folds) < 2:
        return None
    se_cv = statistics.stdev(folds) / math.sqrt(len(folds))
    se = math.hypot(se_cv, (hold.high - hold.low) / (2 * Z95))
    gap = hold.value - cv.score
    if not se > 0.0 or abs(gap) <= WARN_Z * se:
        return None
    metric = metrics.metric
    worse = gap < 0 if greater_is_better(metric) else gap > 0
    return (
        f"Cross-validation and the holdout disagree: cross-validated {metric} "
        f"{fmt.number(cv.score)} (standard error {fmt.number(se_cv)} over {len(folds)} folds) "
        f"against holdout {metric} {fmt.interval(hold)}; the gap, {fmt.number(abs(gap))}, is "
        f"{fmt.number(abs(gap) / se, 2)} times its standard error. "
        + (
            f"The holdout is worse than the search expected{_later_period(run)}: expect "
            "new rows to score like the holdout, not like cross-validation; what was chosen "
            "on cross-validation (the model, the ensemble's weights) may not suit them."
            if worse
            else f"The holdout is better than the search expected{_later_period(run)}: "
            "its rows may be easier than the training rows; do not count on its score "
            "for new rows until monitoring confirms it."
        )
    )


def ladder_summary(run: Run, ladder: Complexity) -> str:
    """The ladder's reading: the best step, the recommended one, and what the difference
    buys (evaluate's ``summary``, in the card's number format)."""
    steps = {s.name: s for s in ladder.steps}
    top, pick = steps[ladder.best], steps[ladder.recommended]
    by_value = ladder.decided_by.startswith("value")
    what = "value per 1,000 decisions" if by_value else f"holdout {run.metric}"

    def measured(step: LadderStep) -> float:
        estimate = step.value_per_1000 if by_value else step.score
        assert estimate is not None  # a ladder decided by value measures every step's value
        return estimate.value

    def write(value: float) -> str:
        return run.money(value) if by_value else fmt.number(value)

    if top is pick:
        return (
            f"{pick.name} ({pick.model}) is the best step ({what} "
            f"{write(measured(pick))}), and every simpler one is measurably worse."
        )
    cost = ""
    if top.p99_us and pick.p99_us:
        ratio = top.p99_us / max(pick.p99_us, 1e-9)
        cost = (
            f"; it costs {fmt.number(ratio, 2)}x the single-row p99 latency (both as searched: "
            "bagged fold models, before any refit)"
        )
    return (
        f"{pick.name} ({pick.model}) is within the holdout's uncertainty of the best "
        f"step, {top.name} ({what} {write(measured(pick))} against "
        f"{write(measured(top))}): the extra complexity buys "
        f"{write(abs(measured(top) - measured(pick)))} that this holdout cannot "
        f"tell from noise{cost}."
    )


# What to do to ship the recommended step instead of the shipped one.
_TO_SHIP = {
    "baseline": "On the holdout no model beats the baseline measurably: read the first "
    "caveats and check the data before using any.",
    "linear": "To ship the linear model, set search.learners = ['linear'] and train again.",
    "best single": "To ship the best single model, set search.ensemble = false and train again.",
}


def shipped_reason(run: Run, metrics: Metrics, ladder: Complexity) -> str:
    """Why the shipped model (the ladder's last step) is not the recommended one: the
    search chooses on cross-validation, never on the holdout."""
    metric = run.metric
    shipped = ladder.steps[-1]
    recommended = next(s for s in ladder.steps if s.name == ladder.recommended)
    if recommended is shipped:
        return ""
    cv = metrics.cv
    board = {r.model: r.cv_score(metric) for r in run.evidence.leaderboard or []}
    rec_cv = cv.baseline if recommended.name == "baseline" else board.get(recommended.model)
    compared = (
        f" ({fmt.number(cv.score)} against {fmt.number(rec_cv)} for {recommended.name})"
        if rec_cv is not None
        else ""
    )
    return (
        f"The shipped model is the {shipped.name} step, {shipped.model}, not the "
        f"recommended {recommended.name} step, because mlwright chooses the model on its "
        f"cross-validated {metric}{compared} and never on the holdout, which only judges: "
        f"a choice made on it would leave no honest score to report. "
        f"{_TO_SHIP.get(recommended.name, '')}"
    ).rstrip()


def caveats(run: Run) -> Section:
    section = Section("Caveats and recommendations")
    items = evidence_warnings(run) + _data_checks(run)
    metrics = run.metrics
    ladder = metrics.complexity if metrics is not None else None
    if metrics is not None and ladder is not None and ladder.recommended != ladder.steps[-1].name:
        items.append(f"{ladder_summary(run, ladder)} " + shipped_reason(run, metrics, ladder))
    slices = metrics.errors.slices.slices if metrics is not None else []
    if slices:
        names = "; ".join(s.slice for s in slices[:3])
        items.append(
            f"The model is measurably worse for: {names}. Check these groups before relying "
            "on it there; more training rows of them, or a feature that tells them apart, "
            "would help."
        )
    items += _how_it_was_trained(run)
    reading = metrics.learning_curve.reading if metrics is not None else None
    if reading:
        items.append(f"Data: {reading}.")
    items.append(
        "Monitor the inputs' drift and the realised performance once labels arrive; the "
        "artifact holds the reference statistics for that."
    )
    section.table(["", "caveat or recommendation"], [[str(i + 1), t] for i, t in enumerate(items)])
    return section


def _data_checks(run: Run) -> list[str]:
    return [
        f"Data check {finding.code}{f' [{finding.column}]' if finding.column else ''} "
        f"({finding.severity}): {finding.message.rstrip('.')}. What to do: {finding.action}"
        for finding in run.evidence.checks or []
    ]


def _how_it_was_trained(run: Run) -> list[str]:
    """What the way the model was made (refit, stacking, constraints, an interruption) means
    for its numbers."""
    evidence, items = run.evidence, []
    refit = evidence.training is not None and evidence.training.refit_on_all_rows
    if refit and run.model.calibrator is not None:
        items.append(
            "The calibration map was fitted on the fold models' predictions; the shipped "
            "model was refit on every row, whose probabilities can be a little sharper."
        )
    if evidence.stacking is not None and evidence.stacking.kept:
        items.append(
            f"A linear stacking layer was kept: it beat the ensemble on "
            f"{evidence.stacking.judged_on or 'the holdout'} by more than the noise."
        )
    items += [
        f"Rejected by the spec's constraints: {note}"
        for note in evidence.rejected_by_constraints or []
    ]
    if evidence.interrupted:
        items.append("The search was interrupted: the model uses only the trials that finished.")
    return items
