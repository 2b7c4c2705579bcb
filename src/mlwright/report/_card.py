"""The model card: what a model can and cannot do, written from the evidence of its run.

Sections follow Mitchell et al. 2019 (Model Cards for Model Reporting): model details;
intended use; factors; metrics; evaluation data; training data; quantitative analyses;
caveats and recommendations. Everything comes from the model's manifest (``Model.metadata``
and its spec), so a card can be written again at any time from an artifact alone.

One ``Card`` renders to a self-contained HTML page (inline CSS and SVG plots: it works
offline, with no script at all) and to a Markdown twin (the same text and tables).
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlwright.artifact import Model, library_versions
from mlwright.evaluate import greater_is_better, proportion_interval
from mlwright.report import _format as fmt
from mlwright.report import _plots as plots


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Plot:
    title: str
    svg: str


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Plot] = field(default_factory=list)

    def text(self, *lines: str) -> None:
        self.blocks.extend(line for line in lines if line)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        if rows:
            self.blocks.append(Table(header, rows))

    def plot(self, title: str, draw: Callable[[], str]) -> None:
        self.blocks.append(Plot(title, draw()))


@dataclass
class Card:
    title: str
    subtitle: str
    sections: list[Section]
    glance: list[tuple[str, str]] = field(default_factory=list)

    def write(self, html_path: Any = None, markdown_path: Any = None) -> tuple[str, str]:
        """Render the card and return (html, markdown); write them when paths are given."""
        from pathlib import Path

        page, text = self.to_html(), self.to_markdown()
        if html_path is not None:
            Path(html_path).write_text(page, encoding="utf-8")
        if markdown_path is not None:
            Path(markdown_path).write_text(text, encoding="utf-8")
        return page, text

    def to_markdown(self) -> str:
        out = [f"# {self.title}", "", self.subtitle, ""]
        out += [f"- **{label}**: {text}" for label, text in self.glance]
        out.append("")
        for section in self.sections:
            out += [f"## {section.title}", ""]
            for block in section.blocks:
                if isinstance(block, Table):
                    out.append("| " + " | ".join(_md(h) for h in block.header) + " |")
                    out.append("|" + "---|" * len(block.header))
                    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in block.rows]
                    out.append("")
                elif isinstance(block, Plot):
                    out += [f"*Plot: {block.title} (in the HTML card).*", ""]
                else:
                    out += [block, ""]
        return "\n".join(out).rstrip() + "\n"

    def to_html(self) -> str:
        body = [f"<h1>{_h(self.title)}</h1>", f'<p class="sub">{_h(self.subtitle)}</p>']
        if self.glance:
            items = "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in self.glance)
            body.append(f'<dl class="glance">{items}</dl>')
        toc = "".join(
            f'<li><a href="#s{i}">{_h(s.title)}</a></li>' for i, s in enumerate(self.sections)
        )
        body.append(f"<nav><ol>{toc}</ol></nav>")
        for i, section in enumerate(self.sections):
            body.append(f'<section id="s{i}"><h2>{_h(section.title)}</h2>')
            for block in section.blocks:
                if isinstance(block, Table):
                    head = "".join(f"<th>{_h(h)}</th>" for h in block.header)
                    rows = "".join(
                        "<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>"
                        for row in block.rows
                    )
                    body.append(
                        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
                    )
                elif isinstance(block, Plot):
                    body.append(
                        f'<figure class="plot">{block.svg}<figcaption>{_h(block.title)}'
                        "</figcaption></figure>"
                    )
                else:
                    body.append(f"<p>{_h(block)}</p>")
            body.append("</section>")
        return _PAGE.format(title=_h(self.title), body="\n".join(body))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933;
  max-width: 980px; margin: 2rem auto; padding: 0 1.2rem; }}
h1 {{ margin-bottom: .2rem; }} .sub {{ color: #52606d; margin-top: 0; }}
h2 {{ border-bottom: 2px solid #e4e7eb; padding-bottom: .2rem; margin-top: 2.2rem; }}
nav ol {{ columns: 2; color: #52606d; }} nav a {{ color: #2563eb; text-decoration: none; }}
table {{ border-collapse: collapse; margin: .8rem 0; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #e4e7eb; padding: .3rem .7rem; text-align: left;
  vertical-align: top; }}
th {{ background: #f5f7fa; }}
figure.plot {{ margin: 1rem 0; }} figure.plot svg {{ max-width: 100%; height: auto; }}
figcaption {{ color: #52606d; font-size: 13px; }}
dl.glance {{ display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem;
  background: #f5f7fa; padding: 1rem 1.2rem; border-radius: 8px; }}
dl.glance dt {{ font-weight: 600; }} dl.glance dd {{ margin: 0; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def _h(text: str) -> str:
    return html.escape(str(text), quote=True)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(value: Any, digits: int = fmt.DIGITS) -> str:
    return fmt.number(value, digits)


def _ci(interval: dict[str, Any] | None, digits: int = fmt.DIGITS) -> str:
    return fmt.interval(interval, lambda v: fmt.number(v, digits))


def _money(model: Model, value: Any) -> str:
    """A business value in the spec's unit (value.currency)."""
    return fmt.money(value, model.spec.value.currency)


def _money_ci(model: Model, interval: dict[str, Any] | None) -> str:
    return fmt.money_interval(interval, model.spec.value.currency)


def model_card(model: Model) -> Card:
    """The card of ``model`` (see the module)."""
    meta = model.metadata
    metrics: dict[str, Any] = meta.get("metrics", {})
    spec = model.spec
    name = spec.task_name
    created = meta.get("created_at", "unknown time")
    version = model.registry.get("version") if model.registry else None
    subtitle = (
        f"{model.problem_type} model of '{spec.task.target}', trained {created}"
        + (f", registered as version {version}" if version else "")
        + ". Written by mlwright from the evidence of its training run."
    )
    sections = [
        _details(model),
        _intended_use(model),
        _factors(model),
        _metrics(model, metrics),
        _evaluation_data(meta),
        _training_data(model),
        _analyses(model, metrics),
        _caveats(model, metrics),
    ]
    return Card(
        title=f"Model card: {name}",
        subtitle=subtitle,
        sections=sections,
        glance=_glance(model, metrics),
    )


def _glance(model: Model, metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """What the model is for, how good it is, where it fails and what to watch, in a line each."""
    card = model.spec.card
    metric = metrics.get("metric", model.spec.task.metric)
    holdout = metrics.get("holdout", {})
    out = [
        (
            "For",
            card.question
            or card.intended_use
            or f"predicting '{model.spec.task.target}' (no purpose stated: set [card] in the spec)",
        )
    ]
    if holdout:
        good = (
            f"holdout {metric} {_ci(holdout['model'])} against {_ci(holdout['baseline'])} for "
            "the baseline (95% intervals)"
        )
        decision = metrics.get("decision")
        if decision and "threshold" in decision:
            values = decision["holdout_value_per_1000"]
            good += (
                f"; acting at threshold {_num(decision['threshold'])} earns "
                f"{_money_ci(model, values['model_at_threshold'])} per 1,000 decisions, against "
                f"{_money(model, values['act_on_everyone']['value'])} acting on everyone and "
                f"{_money(model, values['act_on_no_one']['value'])} on no one"
            )
        warnings = len(_evidence_warnings(model, metrics))
        if warnings:
            good += (
                f"; but read caveat{'s 1-' + str(warnings) if warnings > 1 else ' 1'} first: "
                "the evidence says these numbers may not hold"
            )
        out.append(("How good", good))
    slices = metrics.get("errors", {}).get("slices", {})
    if slices:
        found = slices.get("slices", [])
        out.append(
            (
                "Where it fails",
                "; ".join(
                    f"{s['slice']} ({s['rows']} rows, {s['loss_ratio']:.1f}x the loss of the rest)"
                    for s in found[:3]
                )
                if found
                else f"no group of rows is significantly worse than the rest ({slices['tested']}"
                " groups tested)",
            )
        )
    importance = metrics.get("importance", {})
    watch = []
    if importance.get("computed"):
        top = ", ".join(f["name"] for f in importance["features"][:3])
        watch.append(f"drift in the inputs that matter most ({top})")
    if slices.get("slices"):
        watch.append("performance in the groups above")
    watch.append("realised performance once labels arrive")
    out.append(("What to watch", "; ".join(watch)))
    return out


def _details(model: Model) -> Section:
    meta = model.metadata
    section = Section("Model details")
    weights = meta.get("ensemble", {})
    members = ", ".join(f"{n} ({w:.2f})" for n, w in weights.items()) or "-"
    training = meta.get("training", {})
    latency = meta.get("latency", {})
    rows = [
        ["Task", f"{model.problem_type}: predict '{model.spec.task.target}'"],
        ["Chosen model", str(meta.get("chosen", "-"))],
        ["Members (weight)", members],
        ["Training", str(training.get("note", "-"))],
        ["Decision threshold", _num(model.threshold) if model.threshold is not None else "-"],
        [
            "Calibration",
            model.calibrator.kind if model.calibrator is not None else "none",
        ],
        [
            "Single-row latency",
            f"p50 {_num(latency.get('p50_us'))} µs, p99 {_num(latency.get('p99_us'))} µs "
            "(predict_one, features included)",
        ],
        ["Batch throughput", f"{_num(latency.get('batch_rows_per_second'))} rows/s"],
        ["Size", f"{fmt.size(meta.get('size_mb'))} of learner files"],
        ["Owner", model.spec.card.owner or "not stated (card.owner in the spec)"],
        [
            "Libraries",
            ", ".join(
                f"{k} {v}" for k, v in sorted((meta.get("libraries") or library_versions()).items())
            ),
        ],
    ]
    section.table(["", ""], rows)
    return section


def _intended_use(model: Model) -> Section:
    card = model.spec.card
    section = Section("Intended use")
    section.text(
        f"Question: {card.question}" if card.question else "",
        f"Intended use: {card.intended_use}"
        if card.intended_use
        else "Intended use: not stated (set card.intended_use in the spec).",
    )
    out = list(card.out_of_scope)
    reference = model.metadata.get("reference", {}).get("features", {})
    numeric = [
        f"{name} {_data(stats['quantiles']['0.01'])} to {_data(stats['quantiles']['0.99'])}"
        for name, stats in reference.items()
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
    if model.spec.task.time:
        out.append(
            f"Periods far from the training data's '{model.spec.task.time}' range without "
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


def _metrics(model: Model, metrics: dict[str, Any]) -> Section:
    section = Section("Metrics")
    metric = metrics.get("metric", model.spec.task.metric)
    holdout = metrics.get("holdout", {})
    cv = metrics.get("cv", {})
    section.text(
        f"The task's metric is {metric}; 95% bootstrap intervals over holdout rows in brackets. "
        "Differences are paired: both models scored on the same resamples."
    )
    rows = [
        ["chosen model", _ci(holdout.get("model")), _num(cv.get("score"))],
        ["baseline", _ci(holdout.get("baseline")), _num(cv.get("baseline"))],
    ]
    single = holdout.get("best_single")
    if single:
        rows.append(
            [
                f"best single model ({single['model']})",
                _ci(single),
                _num(cv.get("best_single", {}).get("score")),
            ]
        )
    section.table(["", f"holdout {metric}", f"cross-validated {metric}"], rows)
    diffs = [
        [f"chosen - {who}", _ci(holdout[key]), f"{holdout[key]['a_better_share']:.0%}"]
        for who, key in (("baseline", "vs_baseline"), ("best single", "vs_best_single"))
        if key in holdout
    ]
    section.table(["difference", f"{metric} [95%]", "resamples where chosen is better"], diffs)
    every = holdout.get("all", {})
    base = holdout.get("baseline_all", {})
    section.table(
        ["metric", "chosen model", "baseline"],
        [[k, _num(v), _num(base.get(k))] for k, v in every.items()],
    )
    decision = metrics.get("decision")
    if decision and "threshold" in decision:
        section.text(
            f"Decision threshold {_num(decision['threshold'])}, chosen to maximise business "
            f"value on the {decision['chosen_on']} (value of a true positive "
            f"{_money(model, decision['values']['tp'])}, false positive "
            f"{_money(model, decision['values']['fp'])}, true negative "
            f"{_money(model, decision['values']['tn'])}, false negative "
            f"{_money(model, decision['values']['fn'])})."
        )
        _policies(model, section, decision)
        section.plot(
            "Value per 1,000 decisions on the holdout against the threshold",
            lambda: plots.value_curve(
                decision["curve"], decision["threshold"], model.spec.value.currency
            ),
        )
    elif decision:
        section.text(f"Decisions: {decision['rule']}.")
        _policies(model, section, decision)
    calibration = metrics.get("calibration")
    if calibration:
        hold = calibration["holdout"]
        section.text(
            f"Calibration: {calibration['reason']}. Expected calibration error on the holdout "
            f"{_num(hold['ece_after'], 3)}"
            + (
                f" (before calibration {_num(hold['ece_before'], 3)})"
                if calibration["chosen"] != "none"
                else ""
            )
            + "."
        )
        section.plot(
            "Reliability on the holdout: predicted probability against observed frequency "
            "(dot size: rows)",
            lambda: plots.reliability(
                hold["reliability_before"],
                hold["reliability_after"] if calibration["chosen"] != "none" else None,
            ),
        )
    intervals = metrics.get("intervals")
    if intervals:
        section.text(f"Prediction intervals: {intervals['method']}.")
        section.table(
            ["level", "mean width", "holdout coverage [95%]"],
            [
                [
                    fmt.percent(float(k), 0),
                    _num(v["mean_width"]),
                    fmt.interval(v["holdout_coverage"], fmt.percent),
                ]
                for k, v in sorted(intervals["levels"].items(), key=lambda kv: float(kv[0]))
            ],
        )
        section.plot(
            "Holdout coverage of the prediction intervals against their promise",
            lambda: plots.coverage(intervals["levels"]),
        )
    return section


def _policies(model: Model, section: Section, decision: dict[str, Any]) -> None:
    gains = decision["gain_per_1000"]
    section.table(
        ["policy", "value per 1,000 decisions (holdout) [95%]", "gain of the model's policy"],
        [
            [
                name.replace("_", " "),
                _money_ci(model, v),
                _money_ci(model, gains[name]) if name in gains else "",
            ]
            for name, v in decision["holdout_value_per_1000"].items()
        ],
    )


def _evaluation_data(meta: dict[str, Any]) -> Section:
    data = meta.get("data", {})
    section = Section("Evaluation data")
    section.text(
        f"{_num(data.get('holdout_rows'))} holdout rows, set aside before the search: "
        f"{data.get('validation', 'validation scheme not recorded')}. No choice (model, "
        "ensemble, calibration, threshold, intervals) was made on them."
    )
    return section


def _training_data(model: Model) -> Section:
    data = model.metadata.get("data", {})
    section = Section("Training data")
    section.text(
        f"{_num(data.get('rows'))} rows, {_num(data.get('labelled_rows'))} labelled; "
        f"{_num(data.get('train_rows'))} for the search (cross-validated), "
        f"{_num(data.get('holdout_rows'))} held out. Fingerprint (SHA-256): "
        f"{data.get('fingerprint', '-')}."
    )
    reference = model.metadata.get("reference", {}).get("features", {})
    rows = []
    for field_ in model.inputs:
        stats = reference.get(field_.name, {})
        if field_.kind == "boolean" and "mean" in stats:
            shape = f"true in {stats['mean']:.0%} of rows"
        elif "quantiles" in stats:
            q = stats["quantiles"]
            shape = f"median {_data(q['0.5'])}, 1-99%: {_data(q['0.01'])} to {_data(q['0.99'])}"
        elif stats.get("top"):
            top = list(stats["top"].items())[:3]
            shape = ", ".join(f"{k} {v:.0%}" for k, v in top)
        elif "min" in stats:
            shape = f"{stats['min']} to {stats['max']}"
        else:
            shape = "-"
        rows.append([field_.name, field_.kind, f"{stats.get('missing_rate', 0.0):.1%}", shape])
    section.table(["input", "kind", "missing", "distribution"], rows)
    return section


def _analyses(model: Model, metrics: dict[str, Any]) -> Section:
    section = Section("Quantitative analyses")
    metric = metrics.get("metric", model.spec.task.metric)
    ladder = metrics.get("complexity")
    if ladder:
        section.text(
            f"Is the complexity worth it? {_ladder_summary(model, ladder, metric)}",
            _shipped_reason(model, metrics, ladder, metric),
        )
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
                    s["name"]
                    + (" (recommended)" if s["recommended"] else "")
                    + (" (shipped)" if i == len(ladder["steps"]) - 1 else ""),
                    s["model"],
                    _ci(s["score"]),
                    _ci(s.get("gain_over_previous")),
                    _num(s.get("p99_us")),
                    fmt.size(s.get("size_mb")),
                ]
                for i, s in enumerate(ladder["steps"])
            ],
        )
        section.plot(
            "Holdout score of each step up in complexity (green: recommended by the holdout; "
            "outlined: shipped, chosen by cross-validation)",
            lambda: plots.ladder(ladder["steps"], metric),
        )
    errors = metrics.get("errors", {})
    found = errors.get("slices", {})
    if found:
        slices = found.get("slices", [])
        section.text(
            f"Where the model is worst: {len(slices)} of {found.get('tested', 0)} groups tested "
            f"have a significantly higher {found.get('loss', 'loss')} than the rest "
            "(Holm-corrected, 5%)."
            if slices
            else f"Where the model is worst: none of the {found.get('tested', 0)} groups "
            "tested is significantly worse than the rest (Holm-corrected, 5%)."
        )
        section.table(
            ["group", "rows", "loss (rest)", metric, "p (Holm)"],
            [
                [
                    s["slice"],
                    _num(s["rows"]),
                    f"{_num(s['loss'], 3)} ({_num(s['rest_loss'], 3)})",
                    _num(s["metric"]),
                    fmt.p_value(s["p_value_holm"]),
                ]
                for s in slices
            ],
        )
        if slices:
            section.plot(
                "Loss per row in the worst groups against the rest of the rows",
                lambda: plots.slices(slices),
            )
    if errors.get("confusion"):
        table = errors["confusion"]
        section.plot(
            "Confusion matrix on the holdout (rows: truth, columns: prediction)",
            lambda: plots.confusion(table["classes"], table["matrix"]),
        )
    if errors.get("residuals"):
        section.plot(
            "Residuals by predicted value: bias (mean residual, 95% interval) and error size",
            lambda: plots.residuals(errors["residuals"]),
        )
    importance = metrics.get("importance", {})
    if importance.get("computed"):
        section.text(f"Input importance: {importance['method']}, on {importance['rows']} rows.")
        section.plot(
            "What each input contributes", lambda: plots.importance(importance["features"])
        )
    elif importance:
        section.text(f"Input importance was not measured: {importance['reason']}.")
    curve = metrics.get("learning_curve", {})
    if curve.get("computed"):
        section.text(f"Would more data help? {curve.get('reading', '')}.")
        section.plot(
            f"Learning curve of {curve['model']}: cross-validated {metric} against training rows",
            lambda: plots.learning_curve(curve["points"], metric),
        )
    elif curve:
        section.text(f"The learning curve was not measured: {curve['reason']}.")
    board = model.metadata.get("leaderboard", [])
    ok = [r for r in board if r.get("status") == "ok"][:10]
    section.table(
        ["rank", "model", f"cv {metric}", "fit s", "p99 µs", "MB", "weight"],
        [
            [
                _num(r["rank"]),
                r["model"],
                _num(r.get(f"cv_{metric}")),
                _num(r.get("fit_seconds"), 3),
                _num(r.get("p99_us")),
                fmt.size(r.get("size_mb")),
                f"{r['weight']:.2f}" if r.get("weight") else "",
            ]
            for r in ok
        ],
    )
    worst = errors.get("worst", [])[:5]
    positive = model.class_names[1] if model.problem_type == "binary" else None
    if worst:
        section.text("The holdout rows it gets most wrong:")
        section.table(
            ["loss", "truth", "prediction", "inputs"],
            [
                [
                    _num(w["loss"], 3),
                    _value(w["truth"]),
                    _prediction(w["prediction"], positive),
                    ", ".join(f"{k}={_value(v)}" for k, v in list(w["inputs"].items())[:8]),
                ]
                for w in worst
            ],
        )
    return section


def _prediction(value: Any, positive: str | None) -> str:
    if isinstance(value, dict):
        shown = positive if positive is not None else value["label"]
        return f"{value['label']} (P({shown}) = {value['probabilities'][shown]:.2f})"
    return _num(value)


def _value(value: Any) -> str:
    return _data(value) if isinstance(value, float) else str(value)


def _data(value: Any) -> str:
    """A value of the data (an input, a quantile): its digits, no trailing zeros."""
    return fmt.number(value, trim=True)


# Warnings from the evidence are set at 99%, so that an honest model rarely trips one.
WARN_Z = 2.5758293035489004
Z95 = 1.959963984540054


def _evidence_warnings(model: Model, metrics: dict[str, Any]) -> list[str]:
    """What the holdout says against the model's own numbers, first among the caveats:
    intervals that cover far less than promised, a negative R², cross-validation and the
    holdout disagreeing beyond their noise."""
    found = (
        _coverage_warning(model, metrics),
        _r2_warning(model, metrics),
        _cv_holdout_warning(model, metrics),
    )
    return [w for w in found if w]


def _later_period(model: Model) -> str:
    time = model.spec.task.time
    return f" (the holdout is the latest period by '{time}')" if time else ""


def _coverage_warning(model: Model, metrics: dict[str, Any]) -> str | None:
    """Some level lies above the 99% Wilson interval of its observed holdout coverage."""
    intervals = metrics.get("intervals")
    rows = metrics.get("holdout", {}).get("rows")
    if not intervals or not rows:
        return None
    short = []
    for key, level in sorted(intervals["levels"].items(), key=lambda kv: float(kv[0])):
        observed = level["holdout_coverage"]["value"]
        band = proportion_interval(round(observed * rows), rows, z=WARN_Z)
        if float(key) > band.high:
            short.append(
                f"the {fmt.percent(float(key), 0)} intervals covered {fmt.percent(observed)} "
                f"(99% interval {fmt.percent(band.low)} to {fmt.percent(band.high)})"
            )
    if not short:
        return None
    return (
        f"The prediction intervals cover far less than they promise on the {_num(rows)} "
        f"holdout rows{_later_period(model)}: {'; '.join(short)}. They were fitted on the "
        "out-of-fold errors of the training rows, and the holdout's errors are larger. Do "
        "not read them at their stated level: a stated interval covers new rows about as "
        "often as it covered the holdout's."
    )


def _r2_warning(model: Model, metrics: dict[str, Any]) -> str | None:
    r2 = metrics.get("holdout", {}).get("all", {}).get("r2")
    if model.problem_type != "regression" or r2 is None or not r2 < 0.0:
        return None
    why = (
        f"The holdout is the latest period by '{model.spec.task.time}': a target that moves "
        "beyond the levels of the training period (a trend, a shift) is not followed."
        if model.spec.task.time
        else "The holdout rows differ from the training rows, or the model has not learnt "
        "the target."
    )
    return (
        f"R² on the holdout is {_num(r2)}: the predictions are further from the truth than "
        f"the holdout's own mean would be. {why} Compare it with the baseline and read the "
        "residuals before any use."
    )


def _cv_holdout_warning(model: Model, metrics: dict[str, Any]) -> str | None:
    """The holdout score and the cross-validated score differ by more than WARN_Z standard
    errors of their difference: the folds' spread over sqrt(folds), and the holdout
    bootstrap interval's half-width over 1.96, combined."""
    cv = metrics.get("cv", {})
    hold = metrics.get("holdout", {}).get("model")
    folds = cv.get("folds") or []
    if not hold or cv.get("score") is None or len(folds) < 2:
        return None
    se_cv = statistics.stdev(folds) / math.sqrt(len(folds))
    se = math.hypot(se_cv, (hold["high"] - hold["low"]) / (2 * Z95))
    gap = hold["value"] - cv["score"]
    if not se > 0.0 or abs(gap) <= WARN_Z * se:
        return None
    metric = metrics.get("metric", model.spec.task.metric)
    worse = gap < 0 if greater_is_better(metric) else gap > 0
    return (
        f"Cross-validation and the holdout disagree: cross-validated {metric} "
        f"{_num(cv['score'])} (standard error {_num(se_cv)} over {len(folds)} folds) against "
        f"holdout {metric} {_ci(hold)}; the gap, {_num(abs(gap))}, is "
        f"{_num(abs(gap) / se, 2)} times its standard error. "
        + (
            f"The holdout is worse than the search expected{_later_period(model)}: expect "
            "new rows to score like the holdout, not like cross-validation; what was chosen "
            "on cross-validation (the model, the ensemble's weights) may not suit them."
            if worse
            else f"The holdout is better than the search expected{_later_period(model)}: "
            "its rows may be easier than the training rows; do not count on its score "
            "for new rows until monitoring confirms it."
        )
    )


def _ladder_summary(model: Model, ladder: dict[str, Any], metric: str) -> str:
    """The ladder's reading: the best step, the recommended one, and what the difference
    buys (evaluate's ``summary``, in the card's number format)."""
    steps = {s["name"]: s for s in ladder["steps"]}
    top, pick = steps[ladder["best"]], steps[ladder["recommended"]]
    by_value = str(ladder.get("decided_by", "")).startswith("value")
    key = "value_per_1000" if by_value else "score"
    what = "value per 1,000 decisions" if by_value else f"holdout {metric}"

    def write(value: float) -> str:
        return _money(model, value) if by_value else _num(value)

    if top is pick:
        return (
            f"{pick['name']} ({pick['model']}) is the best step ({what} "
            f"{write(pick[key]['value'])}), and every simpler one is measurably worse."
        )
    cost = ""
    if top.get("p99_us") and pick.get("p99_us"):
        ratio = top["p99_us"] / max(pick["p99_us"], 1e-9)
        cost = (
            f"; it costs {_num(ratio, 2)}x the single-row p99 latency (both as searched: "
            "bagged fold models, before any refit)"
        )
    return (
        f"{pick['name']} ({pick['model']}) is within the holdout's uncertainty of the best "
        f"step, {top['name']} ({what} {write(pick[key]['value'])} against "
        f"{write(top[key]['value'])}): the extra complexity buys "
        f"{write(abs(top[key]['value'] - pick[key]['value']))} that this holdout cannot "
        f"tell from noise{cost}."
    )


def _shipped_reason(
    model: Model, metrics: dict[str, Any], ladder: dict[str, Any], metric: str
) -> str:
    """Why the shipped model (the ladder's last step) is not the recommended one: the
    search chooses on cross-validation, never on the holdout."""
    steps = ladder["steps"]
    shipped = steps[-1]
    recommended = next(s for s in steps if s["name"] == ladder["recommended"])
    if recommended is shipped:
        return ""
    cv = metrics.get("cv", {})
    board = {r.get("model"): r.get(f"cv_{metric}") for r in model.metadata.get("leaderboard", [])}
    rec_cv = (
        cv.get("baseline") if recommended["name"] == "baseline" else board.get(recommended["model"])
    )
    compared = (
        f" ({_num(cv.get('score'))} against {_num(rec_cv)} for {recommended['name']})"
        if cv.get("score") is not None and rec_cv is not None
        else ""
    )
    advice = {
        "baseline": "On the holdout no model beats the baseline measurably: read the first "
        "caveats and check the data before using any.",
        "linear": "To ship the linear model, set search.learners = ['linear'] and train again.",
        "best single": "To ship the best single model, set search.ensemble = false and train "
        "again.",
    }.get(recommended["name"], "")
    return (
        f"The shipped model is the {shipped['name']} step, {shipped['model']}, not the "
        f"recommended {recommended['name']} step, because mlwright chooses the model on its "
        f"cross-validated {metric}{compared} and never on the holdout, which only judges: "
        f"a choice made on it would leave no honest score to report. {advice}"
    ).rstrip()


def _caveats(model: Model, metrics: dict[str, Any]) -> Section:
    meta = model.metadata
    section = Section("Caveats and recommendations")
    items: list[str] = _evidence_warnings(model, metrics)
    for finding in meta.get("checks", []):
        where = f" [{finding['column']}]" if finding.get("column") else ""
        items.append(
            f"Data check {finding['code']}{where} ({finding['severity']}): "
            f"{finding['message'].rstrip('.')}. "
            f"What to do: {finding['action']}"
        )
    ladder = metrics.get("complexity")
    if ladder and ladder["recommended"] != ladder["steps"][-1]["name"]:
        metric = metrics.get("metric", model.spec.task.metric)
        items.append(
            f"{_ladder_summary(model, ladder, metric)} "
            + _shipped_reason(model, metrics, ladder, metric)
        )
    slices = metrics.get("errors", {}).get("slices", {}).get("slices", [])
    if slices:
        names = "; ".join(s["slice"] for s in slices[:3])
        items.append(
            f"The model is measurably worse for: {names}. Check these groups before relying "
            "on it there; more training rows of them, or a feature that tells them apart, "
            "would help."
        )
    if meta.get("training", {}).get("refit_on_all_rows") and model.calibrator is not None:
        items.append(
            "The calibration map was fitted on the fold models' predictions; the shipped "
            "model was refit on every row, whose probabilities can be a little sharper."
        )
    stacking = meta.get("stacking")
    if stacking and stacking.get("kept"):
        items.append(
            "A stacking layer was kept because it beat the ensemble on the holdout; that "
            "makes the holdout score slightly optimistic for it."
        )
    for note in meta.get("rejected_by_constraints", []):
        items.append(f"Rejected by the spec's constraints: {note}")
    if meta.get("interrupted"):
        items.append("The search was interrupted: the model uses only the trials that finished.")
    curve = metrics.get("learning_curve", {})
    if curve.get("reading"):
        items.append(f"Data: {curve['reading']}.")
    items.append(
        "Monitor the inputs' drift and the realised performance once labels arrive; the "
        "artifact holds the reference statistics for that."
    )
    section.table(["", "caveat or recommendation"], [[str(i + 1), t] for i, t in enumerate(items)])
    return section


def write_card(model: Model, html_path: Any, markdown_path: Any = None) -> tuple[str, str]:
    """Render ``model``'s card and return (html, markdown); write them when paths are given."""
    return model_card(model).write(html_path, markdown_path)
