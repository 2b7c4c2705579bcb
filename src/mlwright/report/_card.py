"""The model card: what a model can and cannot do, written from the evidence of its run.

Sections follow Mitchell et al. 2019 (Model Cards for Model Reporting): model details;
intended use; factors; metrics; evaluation data; training data; quantitative analyses;
caveats and recommendations. Everything comes from the model's manifest (its spec, and the
run's evidence read through the typed ``Model.evidence``), so a card can be written again at
any time from an artifact alone. A model built without a run has no evidence: its card says
what the spec and the inputs say, and '-' where a run's number would be.

One ``Card`` renders to a self-contained HTML page (inline CSS and SVG plots: it works
offline, with no script at all) and to a Markdown twin (the same text and tables).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlwright.artifact import (
    Calibration,
    Decision,
    Errors,
    Holdout,
    Importance,
    Intervals,
    Latency,
    LearningCurve,
    Metrics,
    Model,
    PredictedClass,
    Slices,
    WorstRow,
    library_versions,
)
from mlwright.report import _format as fmt
from mlwright.report import _plots as plots
from mlwright.report._caveats import caveats, evidence_warnings, ladder_summary, shipped_reason
from mlwright.report._page import Card, Section
from mlwright.report._run import Run
from mlwright.spec import METRICS


def _num(value: Any, digits: int = fmt.DIGITS) -> str:
    return fmt.number(value, digits)


def _ci(estimate: fmt.Estimate | None) -> str:
    return fmt.interval(estimate)


def _data(value: Any) -> str:
    """A value of the data (an input, a quantile): its digits, no trailing zeros."""
    return fmt.number(value, trim=True)


def model_card(model: Model) -> Card:
    """The card of ``model`` (see the module)."""
    run = Run.of(model)
    spec = model.spec
    created = run.evidence.created_at
    version = model.registry.get("version") if model.registry else None
    subtitle = (
        f"{model.problem_type} model of '{spec.task.target}', trained "
        f"{created if created is not None else 'unknown time'}"
        + (f", registered as version {version}" if version else "")
        + ". Written by mlwright from the evidence of its training run."
    )
    sections = [
        _details(run),
        _intended_use(run),
        _factors(model),
        _metrics(run),
        _evaluation_data(run),
        _training_data(run),
        _analyses(run),
        caveats(run),
    ]
    return Card(
        title=f"Model card: {spec.task_name}",
        subtitle=subtitle,
        sections=sections,
        glance=_glance(run),
    )


def write_card(model: Model, html_path: Any, markdown_path: Any = None) -> tuple[str, str]:
    """Render ``model``'s card and return (html, markdown); write them when paths are given."""
    return model_card(model).write(html_path, markdown_path)


# -- at a glance ---------------------------------------------------------------------------------


def _glance(run: Run) -> list[tuple[str, str]]:
    """What the model is for, how good it is, where it fails and what to watch, in a line each."""
    spec, metrics = run.model.spec, run.metrics
    out = [
        (
            "For",
            spec.card.question
            or spec.card.intended_use
            or f"predicting '{spec.task.target}' (no purpose stated: set [card] in the spec)",
        )
    ]
    if metrics is not None:
        out.append(("How good", _how_good(run, metrics)))
        out.append(("Where it fails", _where_it_fails(metrics.errors.slices)))
    out.append(("What to watch", "; ".join(_what_to_watch(metrics))))
    return out


def _how_good(run: Run, metrics: Metrics) -> str:
    holdout, decision = metrics.holdout, metrics.decision
    good = (
        f"holdout {metrics.metric} {_ci(holdout.model)} against {_ci(holdout.baseline)} for "
        "the baseline (95% intervals)"
    )
    if decision is not None and decision.threshold is not None:
        values = decision.holdout_value_per_1000
        good += (
            f"; acting at threshold {_num(decision.threshold)} earns "
            f"{run.money_interval(decision.chosen_value)} per 1,000 decisions, against "
            f"{run.money(values['act_on_everyone'].value)} acting on everyone and "
            f"{run.money(values['act_on_no_one'].value)} on no one"
        )
    warnings = len(evidence_warnings(run))
    if warnings:
        good += (
            f"; but read caveat{'s 1-' + str(warnings) if warnings > 1 else ' 1'} first: "
            "the evidence says these numbers may not hold"
        )
    return good


def _where_it_fails(slices: Slices) -> str:
    if not slices.slices:
        return (
            f"no group of rows is significantly worse than the rest ({slices.tested} groups tested)"
        )
    return "; ".join(
        f"{s.slice} ({s.rows} rows, {s.loss_ratio:.1f}x the loss of the rest)"
        for s in slices.slices[:3]
    )


def _what_to_watch(metrics: Metrics | None) -> list[str]:
    watch = []
    if metrics is not None and metrics.importance.computed:
        top = ", ".join(f.name for f in metrics.importance.features[:3])
        watch.append(f"drift in the inputs that matter most ({top})")
    if metrics is not None and metrics.errors.slices.slices:
        watch.append("performance in the groups above")
    watch.append("realised performance once labels arrive")
    return watch


# -- the model and its use -------------------------------------------------------------------


def _details(run: Run) -> Section:
    model, evidence = run.model, run.evidence
    section = Section("Model details")
    members = ", ".join(f"{n} ({w:.2f})" for n, w in (evidence.ensemble or {}).items()) or "-"
    latency = evidence.latency if evidence.latency is not None else Latency()
    libraries = evidence.libraries or library_versions()
    rows = [
        ["Task", f"{model.problem_type}: predict '{model.spec.task.target}'"],
        ["Chosen model", evidence.chosen if evidence.chosen is not None else "-"],
        ["Members (weight)", members],
        ["Training", evidence.training.note if evidence.training is not None else "-"],
        ["Decision threshold", _num(model.threshold) if model.threshold is not None else "-"],
        [
            "Calibration",
            model.calibrator.kind if model.calibrator is not None else "none",
        ],
        [
            "Single-row latency",
            f"p50 {_num(latency.p50_us)} µs, p99 {_num(latency.p99_us)} µs "
            "(predict_one, features included)",
        ],
        ["Batch throughput", f"{_num(latency.batch_rows_per_second)} rows/s"],
        ["Size", f"{fmt.size(evidence.size_mb)} of learner files"],
        ["Owner", model.spec.card.owner or "not stated (card.owner in the spec)"],
        ["Libraries", ", ".join(f"{k} {v}" for k, v in sorted(libraries.items()))],
    ]
    section.table(["", ""], rows)
    return section


def _reference_features(run: Run) -> Mapping[str, Mapping[str, Any]]:
    """Each input's statistics in the training rows (``data.profile_column``'s keys)."""
    reference = run.evidence.reference
    return reference.features if reference is not None else {}


def _intended_use(run: Run) -> Section:
    spec = run.model.spec
    card = spec.card
    section = Section("Intended use")
    section.text(
        f"Question: {card.question}" if card.question else "",
        f"Intended use: {card.intended_use}"
        if card.intended_use
        else "Intended use: not stated (set card.intended_use in the spec).",
    )
    out = list(card.out_of_scope)
    numeric = [
        f"{name} {_data(stats['quantiles']['0.01'])} to {_data(stats['quantiles']['0.99'])}"
        for name, stats in _reference_features(run).items()
        if stats.get("kind") == "numeric" and "quantiles" in stats
    ]
    if numeric:
        out.append(
            "Rows outside the training data's range: the central 98% of the training rows had "
            + "; ".join(numeric[:8])
            + ("; ..." if len(numeric) > 8 else "")
            + "."
        )
    out.append(
        "Causal questions (what would happen if an input were changed): the model learned "
        "associations in historical data, not effects of interventions."
    )
    if spec.task.time:
        out.append(
            f"Periods far from the training data's '{spec.task.time}' range without "
            "monitoring: relationships drift over time."
        )
    section.text("Out of scope:")
    section.table(["", "Use the model is not for"], [[str(i + 1), o] for i, o in enumerate(out)])
    return section


def _factors(model: Model) -> Section:
    section = Section("Factors")
    inputs = ", ".join(f"{f.name} ({f.kind})" for f in model.inputs)
    section.text(
        f"Inputs ({len(model.inputs)}): {inputs}.",
        "Every input was cut into groups (quantile bins of numbers and dates, the most "
        "frequent categories, missing) and every group and pair of groups was checked for "
        "worse performance; see Quantitative analyses.",
        f"Rows of a group ('{model.spec.task.group}') never span training and evaluation."
        if model.spec.task.group
        else "",
    )
    return section


# -- metrics -----------------------------------------------------------------------------------


def _metrics(run: Run) -> Section:
    section = Section("Metrics")
    metric, metrics = run.metric, run.metrics
    section.text(
        f"The task's metric is {metric}; 95% bootstrap intervals over holdout rows in brackets. "
        "Differences are paired: both models scored on the same resamples."
    )
    section.table(["", f"holdout {metric}", f"cross-validated {metric}"], _score_rows(metrics))
    if metrics is not None:
        _holdout_tables(section, metric, metrics.holdout)
        _decision(section, run, metrics.decision)
        _calibration(section, metrics.calibration)
        _intervals(section, metrics.intervals)
    return section


def _score_rows(metrics: Metrics | None) -> list[list[str]]:
    """The chosen model's scores beside the baseline's (and the best single model's)."""
    if metrics is None:
        return [["chosen model", "-", "-"], ["baseline", "-", "-"]]
    holdout, cv = metrics.holdout, metrics.cv
    rows = [
        ["chosen model", _ci(holdout.model), _num(cv.score)],
        ["baseline", _ci(holdout.baseline), _num(cv.baseline)],
    ]
    single = holdout.best_single
    if single is not None:
        rows.append(
            [f"best single model ({single.model})", _ci(single), _num(cv.best_single.score)]
        )
    return rows


def _holdout_tables(section: Section, metric: str, holdout: Holdout) -> None:
    """The paired differences, then every metric measured, beside the baseline's."""
    paired = (("baseline", holdout.vs_baseline), ("best single", holdout.vs_best_single))
    section.table(
        ["difference", f"{metric} [95%]", "resamples where chosen is better"],
        [
            [f"chosen - {who}", _ci(diff), f"{diff.a_better_share:.0%}"]
            for who, diff in paired
            if diff is not None
        ],
    )
    section.table(
        ["metric", "chosen model", "baseline"],
        [[k, _num(v), _num(holdout.baseline_all.get(k))] for k, v in holdout.all.items()],
    )


def _decision(section: Section, run: Run, decision: Decision | None) -> None:
    if decision is None:
        return
    threshold = decision.threshold
    if threshold is None:
        section.text(f"Decisions: {decision.rule}.")
        _policies(section, run, decision)
        return
    values, curve = decision.values, decision.curve
    # A threshold is chosen with the spec's values, and its curve drawn on the holdout.
    assert values is not None
    assert curve is not None
    section.text(
        f"Decision threshold {_num(threshold)}, chosen to maximise business "
        f"value on the {decision.chosen_on} (value of a true positive "
        f"{run.money(values.tp)}, false positive {run.money(values.fp)}, true negative "
        f"{run.money(values.tn)}, false negative {run.money(values.fn)})."
    )
    _policies(section, run, decision)
    section.plot(
        "Value per 1,000 decisions on the holdout against the threshold",
        lambda: plots.value_curve(curve, threshold, run.model.spec.value.currency),
    )


def _policies(section: Section, run: Run, decision: Decision) -> None:
    gains = decision.gain_per_1000
    section.table(
        ["policy", "value per 1,000 decisions (holdout) [95%]", "gain of the model's policy"],
        [
            [
                name.replace("_", " "),
                run.money_interval(v),
                run.money_interval(gains[name]) if name in gains else "",
            ]
            for name, v in decision.holdout_value_per_1000.items()
        ],
    )


def _calibration(section: Section, calibration: Calibration | None) -> None:
    if calibration is None or calibration.holdout is None:
        return
    hold = calibration.holdout
    calibrated = calibration.chosen != "none"
    section.text(
        f"Calibration: {calibration.reason}. Expected calibration error on the holdout "
        f"{_num(hold.ece_after, 3)}"
        + (f" (before calibration {_num(hold.ece_before, 3)})" if calibrated else "")
        + "."
    )
    section.plot(
        "Reliability on the holdout: predicted probability against observed frequency "
        "(dot size: rows)",
        lambda: plots.reliability(
            hold.reliability_before, hold.reliability_after if calibrated else None
        ),
    )


def _intervals(section: Section, intervals: Intervals | None) -> None:
    if intervals is None:
        return
    section.text(f"Prediction intervals: {intervals.method}.")
    section.table(
        ["level", "mean width", "holdout coverage [95%]"],
        [
            [
                fmt.percent(float(k), 0),
                _num(v.mean_width),
                fmt.interval(v.holdout_coverage, fmt.percent),
            ]
            for k, v in sorted(intervals.levels.items(), key=lambda kv: float(kv[0]))
        ],
    )
    section.plot(
        "Holdout coverage of the prediction intervals against their promise",
        lambda: plots.coverage(intervals.levels),
    )


# -- data --------------------------------------------------------------------------------------


def _evaluation_data(run: Run) -> Section:
    data = run.evidence.data
    section = Section("Evaluation data")
    section.text(
        f"{_num(data.holdout_rows if data is not None else None)} holdout rows, set aside "
        "before the search: "
        f"{data.validation if data is not None else 'validation scheme not recorded'}. No "
        "choice (model, ensemble, calibration, threshold, intervals) was made on them."
    )
    return section


def _training_data(run: Run) -> Section:
    data = run.evidence.data
    section = Section("Training data")
    counts = (
        (data.rows, data.labelled_rows, data.train_rows, data.holdout_rows)
        if data is not None
        else (None, None, None, None)
    )
    rows, labelled, searched, held = (_num(n) for n in counts)
    section.text(
        f"{rows} rows, {labelled} labelled; {searched} for the search (cross-validated), "
        f"{held} held out. Fingerprint (SHA-256): "
        f"{data.fingerprint if data is not None else '-'}."
    )
    reference = _reference_features(run)
    table = []
    for field_ in run.model.inputs:
        stats = reference.get(field_.name, {})
        table.append(
            [
                field_.name,
                field_.kind,
                f"{stats.get('missing_rate', 0.0):.1%}",
                _distribution(field_.kind, stats),
            ]
        )
    section.table(["input", "kind", "missing", "distribution"], table)
    return section


def _distribution(kind: str, stats: Mapping[str, Any]) -> str:
    """How an input was spread in the training rows, from its reference statistics."""
    if kind == "boolean" and "mean" in stats:
        return f"true in {stats['mean']:.0%} of rows"
    if "quantiles" in stats:
        q = stats["quantiles"]
        return f"median {_data(q['0.5'])}, 1-99%: {_data(q['0.01'])} to {_data(q['0.99'])}"
    if stats.get("top"):
        top = list(stats["top"].items())[:3]
        return ", ".join(f"{k} {v:.0%}" for k, v in top)
    if "min" in stats:
        return f"{stats['min']} to {stats['max']}"
    return "-"


# -- quantitative analyses ---------------------------------------------------------------------


def _analyses(run: Run) -> Section:
    """Complexity, failures, what the inputs contribute, data, every trial, the worst rows."""
    section = Section("Quantitative analyses")
    metrics = run.metrics
    if metrics is not None:
        _complexity(section, run, metrics)
        _slices(section, run.metric, metrics.errors.slices)
        _error_plots(section, metrics.errors)
        _importance(section, metrics.importance)
        _learning_curve(section, run.metric, metrics.learning_curve)
    _time_bought(section, run)
    _leaderboard(section, run)
    if metrics is not None:
        _worst_rows(section, run.model, metrics.errors.worst)
    return section


def _complexity(section: Section, run: Run, metrics: Metrics) -> None:
    ladder, metric = metrics.complexity, run.metric
    section.text(
        f"Is the complexity worth it? {ladder_summary(run, ladder)}",
        shipped_reason(run, metrics, ladder),
    )
    last = len(ladder.steps) - 1
    section.table(
        [
            "step",
            "model",
            f"holdout {metric} [95%]",
            "gain over the step before",
            "p99 µs (as searched)",
            "MB",
        ],
        [
            [
                s.name
                + (" (recommended)" if s.recommended else "")
                + (" (shipped)" if i == last else ""),
                s.model,
                _ci(s.score),
                _ci(s.gain_over_previous),
                _num(s.p99_us),
                fmt.size(s.size_mb),
            ]
            for i, s in enumerate(ladder.steps)
        ],
    )
    section.plot(
        "Holdout score of each step up in complexity (green: recommended by the holdout; "
        "outlined: shipped, chosen by cross-validation)",
        lambda: plots.ladder(ladder.steps, metric),
    )


def _slices(section: Section, metric: str, found: Slices) -> None:
    slices = found.slices
    section.text(
        f"Where the model is worst: {len(slices)} of {found.tested} groups tested "
        f"have a significantly higher {found.loss} than the rest (Holm-corrected, 5%)."
        if slices
        else f"Where the model is worst: none of the {found.tested} groups "
        "tested is significantly worse than the rest (Holm-corrected, 5%)."
    )
    section.table(
        ["group", "rows", "loss (rest)", metric, "p (Holm)"],
        [
            [
                s.slice,
                _num(s.rows),
                f"{_num(s.loss, 3)} ({_num(s.rest_loss, 3)})",
                _num(s.metric),
                fmt.p_value(s.p_value_holm),
            ]
            for s in slices
        ],
    )
    if slices:
        section.plot(
            "Loss per row in the worst groups against the rest of the rows",
            lambda: plots.slices(slices),
        )


def _error_plots(section: Section, errors: Errors) -> None:
    confusion, residuals = errors.confusion, errors.residuals
    if confusion is not None:
        section.plot(
            "Confusion matrix on the holdout (rows: truth, columns: prediction)",
            lambda: plots.confusion(confusion.classes, confusion.matrix),
        )
    if residuals:
        section.plot(
            "Residuals by predicted value: bias (mean residual, 95% interval) and error size",
            lambda: plots.residuals(residuals),
        )


def _importance(section: Section, importance: Importance) -> None:
    if not importance.computed:
        section.text(f"Input importance was not measured: {importance.reason}.")
        return
    section.text(f"Input importance: {importance.method}, on {importance.rows} rows.")
    section.plot("What each input contributes", lambda: plots.importance(importance.features))


def _learning_curve(section: Section, metric: str, curve: LearningCurve) -> None:
    if not curve.computed:
        section.text(f"The learning curve was not measured: {curve.reason}.")
        return
    section.text(f"Would more data help? {curve.reading or ''}.")
    section.plot(
        f"Learning curve of {curve.model}: cross-validated {metric} against training rows",
        lambda: plots.learning_curve(curve.points, metric),
    )


STEPS = {
    "portfolio": "default configurations",
    "tpe": "tuning",
    "seed": "seed bagging",
    "repeat": "repeated bagging on new fold splits",
    "stack": "second layer: default configurations",
    "stack_tpe": "second layer: tuning",
}


def _time_bought(section: Section, run: Run) -> None:
    """The search's steps in the order they finished, with what each bought: the best
    cross-validated score of the first layer by the step's end (and the second layer's best
    on the stacking holdout). Only for a search with more than one step."""
    metric = run.metric
    greater = METRICS[metric].greater_is_better
    done = sorted(
        (
            r
            for r in run.evidence.leaderboard or []
            if r.status == "ok" and r.finished_s is not None and r.family != "baseline"
        ),
        key=lambda r: r.finished_s or 0.0,
    )
    steps: list[list[Any]] = []
    best: float | None = None
    for row in done:
        score = row.cv_score(metric) if row.layer == 1 else None
        if score is not None and (best is None or (score > best if greater else score < best)):
            best = score
        if not steps or steps[-1][0] != row.origin:
            steps.append([row.origin, 0, 0.0, best])
        steps[-1][1:] = [steps[-1][1] + 1, row.finished_s, best]
    if len(steps) < 2:
        return
    section.text(f"What the search's time bought, step by step (first layer's best cv {metric}):")
    section.table(
        ["step", "trials", "done at s", f"best cv {metric}"],
        [[STEPS.get(o, o), str(n), _num(t, 3), _num(b)] for o, n, t, b in steps],
    )
    repeated = [r for r in done if r.splits > 1]
    if repeated:
        section.text(
            f"{len(repeated)} trials were cross-validated again on new fold splits (repeated "
            f"bagging, up to {max(r.splits for r in repeated)} splits); their scores above, as "
            "everywhere in this card, are averaged over all their splits."
        )
    _holdout_checks(section, run)


def _holdout_checks(section: Section, run: Run) -> None:
    """The stacking holdout's verdicts on tuning and on the second layer, when it had any."""
    tuning, layers = run.evidence.tuning, run.evidence.layers
    if tuning is not None:
        section.text(
            _holdout_sentence(
                run.metric,
                f"Tuned configurations {'were kept' if tuning.kept else 'were not kept'}",
                (tuning.holdout_rows, tuning.noise),
                f"{_num(tuning.with_tuned.score)} with them against "
                f"{_num(tuning.defaults.score)} for the default configurations alone",
                "tuning chose its configurations on the folds' rows, which flatter them, so "
                "the default configurations replace them when they win there",
            )
        )
    if layers is not None:
        section.text(
            _holdout_sentence(
                run.metric,
                f"The second layer {'was kept' if layers.kept else 'was not kept'}",
                (layers.holdout_rows, layers.noise),
                f"{_num(layers.with_second_layer.score)} with it against "
                f"{_num(layers.first_layer.score)} for the first layer alone",
                "it is kept only when it wins",
            )
        )


def _holdout_sentence(
    metric: str, verdict: str, rows_noise: tuple[int, float | None], scores: str, rule: str
) -> str:
    """A check of the stacking holdout in words: the verdict, both scores, and the rule."""
    rows, noise = rows_noise
    head = f"{verdict}: on the stacking holdout ({rows} rows no model saw), {metric} {scores}"
    if noise is None:
        return head + "."
    return (
        f"{head}; {rule} by more than the noise of that difference, "
        f"±{noise:.2g} (one standard error over the holdout's rows)."
    )


def _leaderboard(section: Section, run: Run) -> None:
    """The ten best trials that finished."""
    metric = run.metric
    ok = [r for r in run.evidence.leaderboard or [] if r.status == "ok" and r.rank is not None]
    ok = ok[:10]
    section.table(
        ["rank", "model", f"cv {metric}", "fit s", "p99 µs", "MB", "weight"],
        [
            [
                _num(r.rank),
                r.model,
                _num(r.cv_score(metric)),
                _num(r.fit_seconds, 3),
                _num(r.p99_us),
                fmt.size(r.size_mb),
                f"{r.weight:.2f}" if r.weight else "",
            ]
            for r in ok
        ],
    )


def _worst_rows(section: Section, model: Model, worst: list[WorstRow]) -> None:
    shown = worst[:5]
    if not shown:
        return
    positive = model.class_names[1] if model.problem_type == "binary" else None
    section.text("The holdout rows it gets most wrong:")
    section.table(
        ["loss", "truth", "prediction", "inputs"],
        [
            [
                _num(w.loss, 3),
                _value(w.truth),
                _prediction(w.prediction, positive),
                ", ".join(f"{k}={_value(v)}" for k, v in list(w.inputs.items())[:8]),
            ]
            for w in shown
        ],
    )


def _prediction(value: PredictedClass | float, positive: str | None) -> str:
    if isinstance(value, PredictedClass):
        shown = positive if positive is not None else value.label
        return f"{value.label} (P({shown}) = {value.probabilities[shown]:.2f})"
    return _num(value)


def _value(value: Any) -> str:
    return _data(value) if isinstance(value, float) else str(value)
