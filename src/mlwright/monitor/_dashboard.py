"""The monitoring dashboard: one self-contained page (inline SVG plots, no script, works
offline) and its Markdown twin, from a ``MonitorReport``."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from mlwright.monitor._monitor import MonitorReport, Window
from mlwright.report import BAD, BASE, GOOD, MODEL, Card, Section, figure, svg

WARN = "#d97706"
# Inputs drawn in the drift plot: the most moved ones (all would be unreadable).
DRIFT_LINES = 8


def dashboard(report: MonitorReport) -> Card:
    """The report as a page: status, alerts, volume, drift, quality, predictions, performance."""
    windows = report.windows
    judged = [w for w in windows if w.status != "too few rows"]
    alerts = sum(len(w.alerts) for w in windows)
    glance = [
        ("Status", "ALERT" if report.status == "alert" else "all well"),
        ("Model", f"{report.model_name} version {report.model_version} ({report.problem_type})"),
        ("Traffic", f"{report.rows:,} answers in {len(windows)} windows of {_span(report)}"),
        ("Judged", f"{len(judged)} windows with at least {report.settings['min_rows']} rows"),
        ("Labelled", f"{report.labelled:,} answers have a label"),
        ("Alerts", f"{alerts} in {sum(w.status == 'alert' for w in windows)} windows"),
    ]
    sections = [
        _alerts(report),
        _volume(report),
        _drift(report),
        _quality(report),
        _predictions(report),
        _performance(report),
        _method(report),
    ]
    return Card(
        title=f"Monitoring: {report.model_name}",
        subtitle=f"Served traffic against the training reference, {_period(report)}.",
        sections=[s for s in sections if s.blocks],
        glance=glance,
    )


def _span(report: MonitorReport) -> str:
    seconds = float(report.settings["window"])
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _period(report: MonitorReport) -> str:
    if not report.windows:
        return "no traffic"
    return f"{_when(report.windows[0].start)} to {_when(report.windows[-1].end)}"


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _alerts(report: MonitorReport) -> Section:
    section = Section("Alerts")
    rows = [[_when(w.start), a] for w in report.windows for a in w.alerts]
    if rows:
        section.text("Each alert, by window (the oldest first). Exit code 1 means at least one.")
        section.table(["window", "alert"], rows)
    else:
        section.text("No alert: no input, prediction or metric moved beyond its threshold.")
    small = [w for w in report.windows if w.status == "too few rows"]
    if small:
        section.text(
            f"{len(small)} windows had fewer than {report.settings['min_rows']} rows and were "
            "not judged (too small to tell drift from chance, not 'no drift'): "
            + ", ".join(f"{_when(w.start)} ({w.rows})" for w in small[:10])
        )
    section.text(*report.notes)
    return section


def _x(windows: Sequence[Window]) -> list[dt.datetime]:
    return [w.start for w in windows]


def _volume(report: MonitorReport) -> Section:
    section = Section("Volume")
    windows = report.windows

    def draw() -> str:
        fig, ax = figure(7.2, 2.8)
        width = (windows[0].end - windows[0].start) * 0.8
        colours = [BASE if w.status == "too few rows" else MODEL for w in windows]
        ax.bar(_x(windows), [w.rows for w in windows], width=width, color=colours, align="edge")
        ax.axhline(report.settings["min_rows"], color=WARN, linestyle="--", linewidth=1)
        ax.set_ylabel("answers per window")
        fig.autofmt_xdate()
        return svg(fig)

    section.plot("Answers per window; grey: too few rows to judge (dashed line)", draw)
    return section


def _drift(report: MonitorReport) -> Section:
    section = Section("Input drift")
    judged = [w for w in report.windows if w.drift]
    if not judged:
        section.text("No window had enough rows to judge drift.")
        return section
    worst: dict[str, float] = {}
    for w in judged:
        for name, d in w.drift.items():
            worst[name] = max(worst.get(name, 0.0), d["psi"])
    shown = sorted(worst, key=lambda n: -worst[n])[:DRIFT_LINES]
    settings = report.settings

    def draw() -> str:
        fig, ax = figure(7.2, 3.6)
        for name in shown:
            points = [(w.start, w.drift[name]["psi"]) for w in judged if name in w.drift]
            ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=name)
        ax.axhline(settings["psi_alert"], color=BAD, linestyle="--", linewidth=1)
        ax.axhline(settings["psi_warn"], color=WARN, linestyle=":", linewidth=1)
        ax.set_ylabel("PSI against training")
        ax.legend(frameon=False, fontsize=8, ncol=2)
        fig.autofmt_xdate()
        return svg(fig)

    section.text(
        f"Population stability index of each input per window (red: the alert level "
        f"{settings['psi_alert']}; orange: moderate, {settings['psi_warn']}). An input alerts "
        "only when its PSI is also beyond the window's sampling noise."
    )
    section.plot("PSI of the most moved inputs, per window", draw)
    last = judged[-1]
    section.text(f"The latest judged window ({_when(last.start)}, {last.rows:,} rows):")
    section.table(
        ["input", "PSI", "noise PSI", "Jensen-Shannon", "Wasserstein (sd)", "level"],
        [
            [
                name,
                f"{d['psi']:.3f}",
                f"{d['noise_psi']:.3f}",
                f"{d['js']:.3f}",
                "-" if d["wasserstein"] is None else f"{d['wasserstein']:.3f}",
                d["level"],
            ]
            for name, d in sorted(last.drift.items(), key=lambda kv: -kv[1]["psi"])
        ],
    )
    return section


def _quality(report: MonitorReport) -> Section:
    section = Section("Data quality")
    rows = []
    for w in report.windows:
        for name, q in w.quality.items():
            issues = []
            ref = q["reference_missing_rate"]
            # Shown past two standard errors of the window's rate (the alert needs more).
            noise = 2.0 * math.sqrt(max(ref * (1 - ref), 1.0 / w.rows) / w.rows)
            if q["missing_rate"] > ref + max(0.01, noise):
                issues.append(
                    f"missing {q['missing_rate']:.1%} (training {q['reference_missing_rate']:.1%})"
                )
            if q.get("out_of_range"):
                issues.append(
                    f"{q['out_of_range']} outside the training range "
                    f"({q['out_of_range_share']:.1%})"
                )
            if q.get("new_categories"):
                issues.append(
                    "new categories "
                    + ", ".join(f"{k!r} x{v}" for k, v in q["new_categories"].items())
                )
            if issues:
                rows.append([_when(w.start), name, "; ".join(issues)])
    if rows:
        section.text("Values unlike the training data (alerts are listed above):")
        section.table(["window", "input", "what was seen"], rows[:200])
    else:
        section.text(
            "Every judged window's missing rates, categories and ranges match the training data."
        )
    return section


def _predictions(report: MonitorReport) -> Section:
    section = Section("Predictions")
    judged = [w for w in report.windows if w.predictions]
    if not judged:
        return section
    key = {"binary": "mean_probability", "regression": "mean"}.get(report.problem_type)

    def draw() -> str:
        fig, ax = figure(7.2, 3.0)
        ax.plot(
            _x(judged), [w.predictions["psi"] for w in judged], color=MODEL, marker="o",  # type: ignore[index]
            label="PSI of the predictions",
        )  # fmt: skip
        ax.axhline(report.settings["psi_alert"], color=BAD, linestyle="--", linewidth=1)
        ax.set_ylabel("PSI against the holdout's")
        if key:
            twin = ax.twinx()
            twin.plot(
                _x(judged), [w.predictions[key] for w in judged], color=GOOD, marker="s",  # type: ignore[index]
                markersize=3, label=key.replace("_", " "),
            )  # fmt: skip
            twin.set_ylabel(key.replace("_", " "), color=GOOD)
        fig.autofmt_xdate()
        return svg(fig)

    what = {
        "binary": "the positive class's probability",
        "multiclass": "the most probable class",
        "regression": "the predicted value",
    }[report.problem_type]
    section.text(f"How {what} is distributed, per window, against the holdout's predictions.")
    section.plot("Prediction drift (PSI, left) and the mean prediction (right)", draw)
    return section


def _performance(report: MonitorReport) -> Section:
    section = Section("Performance")
    metric = report.metric
    estimated = [w for w in report.windows if w.estimated and metric in w.estimated["metrics"]]
    realised = [w for w in report.windows if w.realised and w.realised.get("status") == "judged"]
    if not estimated and not realised:
        if report.problem_type == "regression":
            section.text("No labels yet: regression performance waits for them (feedback).")
        return section
    holdout = report.holdout.get(metric)

    def draw() -> str:
        fig, ax = figure(7.2, 3.4)
        if estimated:
            values = [w.estimated["metrics"][metric] for w in estimated]  # type: ignore[index]
            xs = _x(estimated)
            ax.fill_between(
                xs, [v["low"] for v in values], [v["high"] for v in values], color=MODEL, alpha=0.15
            )
            ax.plot(xs, [v["value"] for v in values], color=MODEL, marker="o", label="estimated")
        if realised:
            ys = [w.realised["value"] for w in realised]  # type: ignore[index]
            errors = [
                [y - w.realised["low"] for y, w in zip(ys, realised, strict=True)],  # type: ignore[index]
                [w.realised["high"] - y for y, w in zip(ys, realised, strict=True)],  # type: ignore[index]
            ]
            ax.errorbar(
                _x(realised), ys, yerr=errors, color=GOOD, marker="s", linestyle="none",
                capsize=3, label="realised (labels)",
            )  # fmt: skip
        if holdout is not None:
            ax.axhline(holdout, color=GOOD, linestyle="--", linewidth=1, label="holdout (labels)")
        reference = estimated[-1].estimated["reference"].get(metric) if estimated else None  # type: ignore[index]
        if reference is not None:
            ax.axhline(
                reference, color=MODEL, linestyle=":", linewidth=1, label="holdout (estimated)"
            )
        ax.set_ylabel(metric)
        ax.legend(frameon=False, fontsize=8)
        fig.autofmt_xdate()
        return svg(fig)

    section.text(
        f"{metric} per window with 95% intervals: estimated from the model's own "
        "probabilities (no labels needed; trusted only for a calibrated model), against the "
        "same estimate on the holdout's predictions; and realised from the labels joined by "
        "prediction id, against the holdout's own score."
    )
    section.plot(f"{metric} per window", draw)
    rows = []
    for w in report.windows:
        est = (w.estimated or {}).get("metrics", {}).get(metric)
        real = w.realised or {}
        if est is None and not real:
            continue
        rows.append(
            [
                _when(w.start),
                "-" if est is None else _interval(est),
                str(real.get("labelled", 0)),
                _interval(real) if real.get("status") == "judged" else real.get("status", "-"),
            ]
        )
    section.table(["window", f"estimated {metric}", "labels", f"realised {metric}"], rows)
    return section


def _interval(found: dict[str, Any]) -> str:
    return f"{found['value']:.4f} [{found['low']:.4f}, {found['high']:.4f}]"


def _method(report: MonitorReport) -> Section:
    s = report.settings
    section = Section("How this was judged")
    section.text(
        f"Windows of {_span(report)}; a window is judged from {s['min_rows']} rows. Drift is an "
        f"effect size, never a bare p-value: an input or the predictions alert at PSI >= "
        f"{s['psi_alert']} when that is also beyond the PSI that sampling noise reaches at the "
        "window's size (chi-square approximation, 1% false-alarm rate shared by the inputs).",
        f"Quality alerts: a missing rate up by more than {s['max_missing_increase']:.0%} (and its "
        f"noise), more than {s['max_new_category_share']:.0%} of values in categories unseen in "
        f"training, more than {s['max_out_of_range_share']:.0%} outside the training range (and "
        "beyond what a new draw from the training data would give).",
        f"Performance alerts: the estimated metric worse than the same estimate on the "
        f"holdout's predictions, or the realised metric worse than the holdout's score, by "
        f"more than {s['max_performance_drop']:.0%} and by more than 3 standard errors of the "
        f"difference; realised metrics need {s['min_labels']} labels in the window.",
    )
    return section
