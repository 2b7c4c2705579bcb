"""What the commands print: Rich tables and lines over the typed results of the stages.

Each printer takes the console to print on (the command's stdout, or a test's), and reads a
run's evidence through the typed models of ``mlwright.artifact`` (``Model.evidence``), never
by string key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from pathlib import Path

    from mlwright.artifact import (
        Calibration,
        Decision,
        Holdout,
        Intervals,
        Latency,
        LeaderboardRow,
    )
    from mlwright.data import Finding, Schema
    from mlwright.monitor import Comparison, LiveTest, MonitorReport
    from mlwright.pipeline import RecommendRunResult, RunResult
    from mlwright.recommend import HeldOutEvaluation
    from mlwright.registry import Registration

LEADERBOARD_ROWS = 12
_SEVERITY_STYLE = {"blocking": "bold red", "warning": "yellow", "info": "dim"}


def fmt(value: object, digits: int = 4) -> str:
    """A number as the tables show it: ``digits`` decimals, "-" for none or not finite."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.{digits}g}" if abs(value) >= 1e5 else f"{value:.{digits}f}"
    return str(value)


# -- check ----------------------------------------------------------------------------------------


def print_schema(console: Console, schema: Schema) -> None:
    table = Table(title=f"columns ({schema.n_rows} rows)", title_justify="left")
    for name in ("column", "kind", "type", "role", "missing", "distinct", "why"):
        table.add_column(name)
    for col in schema.columns:
        table.add_row(
            escape(col.name),
            col.kind,
            col.dtype,
            col.role,
            f"{col.missing_rate:.1%}" if col.missing else "",
            str(col.n_unique),
            escape(col.reason),
        )
    console.print(table)


def print_findings(console: Console, findings: Sequence[Finding], allow: list[str]) -> None:
    if not findings:
        console.print("[green]no findings[/]")
        return
    table = Table(title="findings", title_justify="left", show_lines=True)
    for name in ("severity", "finding", "what", "evidence", "action"):
        table.add_column(name, overflow="fold")
    for f in findings:
        severity = f.severity + (
            " (allowed)" if f.severity == "blocking" and f.allowed_by(allow) else ""
        )
        evidence = ", ".join(f"{k}={fmt(v)}" for k, v in list(f.evidence.items())[:6])
        table.add_row(
            f"[{_SEVERITY_STYLE[f.severity]}]{severity}[/]",
            *(escape(text) for text in (f.key, f.message, evidence, f.action)),
        )
    console.print(table)


# -- run: a table model ---------------------------------------------------------------------------


def _holdout_check_line(
    *,
    what: str,
    kept: bool,
    rows: int,
    metric: str,
    with_it: float,
    baseline: float,
    baseline_is: str,
    rule: str | None,
) -> str:
    """One line for a check on the stacking holdout (the second layer's, the tuning's):
    ``what`` was judged on ``rows`` held-out rows, scoring ``with_it`` against the
    ``baseline`` that ``baseline_is`` names; ``rule`` says when it is kept."""
    return (
        f"{what} {'kept' if kept else 'not kept'}: on the stacking holdout ({rows} rows no "
        f"model saw) {metric} {fmt(with_it)} with the {what}, {fmt(baseline)} {baseline_is}"
        + ("" if rule is None else f" ({rule})")
    )


def print_summary(console: Console, result: RunResult) -> None:
    """What `mlwright run` prints after a tabular run: the leaderboard, the holdout scores
    with their intervals, the decision rule, calibration, intervals, latency and time."""
    model = result.model
    evidence = model.evidence  # parsed on each access: read once
    metrics, rows = evidence.metrics, evidence.leaderboard
    if metrics is None or rows is None:  # a run writes both; only a hand-built Model lacks them
        raise ValueError("the run's model has no metrics or leaderboard to summarise")
    print_leaderboard(console, metrics.metric, rows)
    console.print(f"chosen: {escape(evidence.chosen or '')}")
    if evidence.layers is not None:
        layers = evidence.layers
        console.print(
            _holdout_check_line(
                what="second layer",
                kept=layers.kept,
                rows=layers.holdout_rows,
                metric=metrics.metric,
                with_it=layers.with_second_layer.score,
                baseline=layers.first_layer.score,
                baseline_is="for the first layer alone",
                rule=None if layers.noise is None else f"kept only beyond ±{layers.noise:.2g}",
            )
        )
    if evidence.tuning is not None:
        tuning = evidence.tuning
        console.print(
            _holdout_check_line(
                what="tuned configurations",
                kept=tuning.kept,
                rows=tuning.holdout_rows,
                metric=metrics.metric,
                with_it=tuning.with_tuned.score,
                baseline=tuning.defaults.score,
                baseline_is="for the default configurations alone",
                rule=None
                if tuning.noise is None
                else f"the defaults replace them only beyond ±{tuning.noise:.2g}",
            )
        )
    print_holdout(console, metrics.metric, metrics.holdout)
    if metrics.decision is not None:
        print_decision(console, metrics.decision)
    if metrics.calibration is not None:
        print_calibration(console, metrics.calibration)
    if metrics.intervals is not None:
        print_intervals(console, metrics.intervals)
    if evidence.interrupted:
        finished = sum(r.status == "ok" for r in rows)
        console.print(
            "[yellow]search interrupted[/]: the model uses the trials that finished "
            f"({finished} of them)"
        )
    if result.search.resume_note is not None:
        console.print(escape(result.search.resume_note), highlight=False)
    print_latency(console, evidence.latency, evidence.size_mb)
    skipped = {} if evidence.budget is None else evidence.budget.skipped
    print_time(console, result.timings, model.spec.constraints.time_budget, skipped)
    where = print_where(console, result.artifact_dir, result.registration)
    if where is None:
        return
    console.print(f"score a file: mlwright predict {escape(where)} DATA.csv -o predictions.csv")
    console.print(f"load it in Python: mlwright.load({escape(repr(where))})")


def print_leaderboard(console: Console, metric: str, rows: list[LeaderboardRow]) -> None:
    """The best trials (LEADERBOARD_ROWS), the baseline always beside them, the failures,
    and a count of the rest."""
    board = Table(
        title="leaderboard (cross-validation; * chosen, ◆ Pareto front of score vs latency)",
        title_justify="left",
    )
    for name in ("rank", "model", f"cv {metric}", "± std", "fit s", "p99 µs", "MB", "weight"):
        board.add_column(name, justify="left" if name == "model" else "right")
    board.add_column("status")
    shown = [r for r in rows if r.status == "ok" and r.rank is not None][:LEADERBOARD_ROWS]
    shown += [r for r in rows if r.family == "baseline" and r not in shown]  # always beside
    shown += [r for r in rows if r.status == "failed"]
    for row in shown:
        marks = ("*" if row.chosen else " ") + ("◆" if row.pareto else " ")
        board.add_row(
            fmt(row.rank),
            f"{marks} {escape(row.model)}",
            fmt(row.cv_score(metric)),
            fmt(row.cv_std),
            fmt(row.fit_seconds, 2),
            fmt(row.p99_us, 3),
            fmt(row.size_mb, 2),
            f"{row.weight:.2f}" if row.weight else "",
            escape(row.status + (f" ({row.note})" if row.note else "")),
        )
    console.print(board)
    hidden = len([r for r in rows if r.status == "ok" and r.rank is not None and r not in shown])
    repeats = len([r for r in rows if r.origin == "repeat"])
    skipped = [r for r in rows if r.status == "skipped"]
    if hidden > 0 or repeats or skipped:
        parts = [f"{hidden} more trials"] if hidden > 0 else []
        if repeats:
            parts.append(f"{repeats} fits of repeated bagging on new fold splits")
        if skipped:
            parts.append(f"{len(skipped)} not reached")
        more = ", ".join(parts)
        console.print(f"  ({more}: Model.leaderboard has them all)")


def print_holdout(console: Console, metric: str, hold: Holdout) -> None:
    m, b = hold.model, hold.baseline
    console.print(
        f"holdout {metric} ({hold.rows} rows): [bold]{fmt(m.value)}[/] "
        f"[95% {fmt(m.low)}-{fmt(m.high)}]   baseline {fmt(b.value)} "
        f"[{fmt(b.low)}-{fmt(b.high)}]"
    )
    single = hold.best_single
    if single:
        console.print(
            f"  best single model {escape(single.model)}: {fmt(single.value)} "
            f"[{fmt(single.low)}-{fmt(single.high)}]"
        )


def print_decision(console: Console, decision: Decision) -> None:
    """The chosen decision rule's holdout value per 1,000 decisions beside the other
    policies': a binary threshold, or the class of highest expected value."""
    per_1000 = decision.holdout_value_per_1000
    v = {name: interval.value for name, interval in per_1000.items()}
    at = decision.chosen_value
    if decision.threshold is None:
        others = ", ".join(
            f"{value:,.0f} {name.replace('_', ' ')}"
            for name, value in v.items()
            if name != decision.chosen_policy
        )
        console.print(
            f"decisions by expected value under the value matrix: value per 1,000 decisions "
            f"{at.value:,.0f} [95% {at.low:,.0f} to {at.high:,.0f}] vs {others}"
        )
        return
    console.print(
        f"decision threshold {decision.threshold:.3f} (max business value on out-of-fold "
        f"predictions): value per 1,000 decisions {at.value:,.0f} "
        f"[95% {at.low:,.0f} to {at.high:,.0f}] vs "
        f"{v['model_at_0.5']:,.0f} at 0.5, {v['act_on_everyone']:,.0f} acting on everyone, "
        f"{v['act_on_no_one']:,.0f} on no one"
    )


def print_calibration(console: Console, calibration: Calibration) -> None:
    line = f"calibration: {escape(calibration.reason)}"
    check = calibration.holdout
    if check is not None:
        line += f"; holdout expected calibration error {fmt(check.ece_after, 3)}"
        if calibration.chosen != "none":
            line += f" (uncalibrated {fmt(check.ece_before, 3)})"
    console.print(line)


def print_intervals(console: Console, intervals: Intervals) -> None:
    at = intervals.levels.get("0.9")
    if at is None:
        return
    covered = at.holdout_coverage
    console.print(
        f"90% prediction intervals (conformal): mean width {fmt(at.mean_width)}, "
        f"holdout coverage {covered.value:.1%} [95% {covered.low:.1%}-{covered.high:.1%}]"
    )


def print_latency(console: Console, latency: Latency | None, size_mb: float | None) -> None:
    p50, p99 = (None, None) if latency is None else (latency.p50_us, latency.p99_us)
    size = 0.0 if size_mb is None else size_mb
    console.print(
        f"predict_one latency: p50 {fmt(p50, 1)} µs, p99 {fmt(p99, 1)} µs; model size {size:.2f} MB"
    )


def print_time(
    console: Console, timings: dict[str, float], budget: float, skipped: dict[str, str]
) -> None:
    """What the time budget left out, and the run's wall time (registration included) beside
    its budget, with the overrun when there is one."""
    for step, why in skipped.items():
        console.print(f"[yellow]not done[/]: {escape(step)}: {escape(why)}")
    wall = timings.get("wall")
    if wall is None:
        return
    steps = ", ".join(
        f"{name.replace('_', ' ')} {seconds:.1f}"
        for name, seconds in timings.items()
        if name not in ("wall", "until_save", "store_wait")
    )
    if wall > budget:
        console.print(
            f"[yellow]time: {wall:.1f} s, {wall - budget:.1f} s past the {budget:g} s budget[/] "
            f"({steps} s)"
        )
    else:
        console.print(f"time: {wall:.1f} s of the {budget:g} s budget ({steps} s)")


def print_where(
    console: Console, artifact_dir: Path | None, registration: Registration | None
) -> str | None:
    """Where a run put its model (artifact, card, registration); the reference to use."""
    if artifact_dir is not None:
        console.print(f"artifact: [bold]{escape(str(artifact_dir))}[/]")
        card = artifact_dir / "model_card.html"
        if card.exists():
            console.print(f"model card: [bold]{escape(str(card))}[/] (and model_card.md)")
    if registration is not None:
        reg = registration
        console.print(
            f"registered: [bold]{escape(reg.model_name)}[/] version {reg.version} as "
            f"'{reg.alias}' ({escape(reg.uri)}) in {escape(reg.tracking_uri)}"
        )
        return str(reg.uri)
    return None if artifact_dir is None else str(artifact_dir)


# -- run: a recommender ---------------------------------------------------------------------------


def print_recommendation_summary(console: Console, result: RecommendRunResult) -> None:
    """What `mlwright run` prints after a recommendation run: each system's scores on the
    held-out users, the paired differences, what recommends, time and where it went."""
    from mlwright.recommend import chosen_text

    model = result.model
    evidence = model.evidence
    assert evidence.evaluation is not None, "a recommendation run evaluates its model"
    print_ranking_scores(console, evidence.evaluation)
    console.print(f"recommends with: {escape(chosen_text(model))}")
    budget = evidence.budget
    print_time(
        console,
        result.timings,
        budget.seconds if budget is not None else 0.0,
        budget.skipped if budget is not None else {},
    )
    where = print_where(console, result.artifact_dir, result.registration)
    if where is not None:
        console.print(f"serve it: mlwright serve {escape(where)}")
        console.print(
            f"load it in Python: mlwright.load({escape(repr(where))}).recommend(user=...)"
        )


def print_ranking_scores(console: Console, evaluation: HeldOutEvaluation) -> None:
    k = evaluation.k
    board = Table(
        title=f"held-out users ({evaluation.users}, protocol '{evaluation.protocol}'): "
        "full ranking, 95% intervals over users",
        title_justify="left",
    )
    for name in ("system", f"NDCG@{k}", "95% interval", f"recall@{k}", f"coverage@{k}"):
        board.add_column(name, justify="left" if name == "system" else "right")
    for system, scores in evaluation.scores.items():
        ndcg = scores[f"ndcg@{k}"]
        board.add_row(
            ("* " if system == "model" else "  ") + escape(system),
            fmt(ndcg.value),
            f"{fmt(ndcg.low)}-{fmt(ndcg.high)}",
            fmt(scores[f"recall@{k}"].value),
            fmt(scores[f"coverage@{k}"].value, 3),
        )
    console.print(board)
    for name, diff in evaluation.differences.items():
        console.print(
            f"{escape(name)}: NDCG {_signed(diff.value)} [95% {_signed(diff.low)} to "
            f"{_signed(diff.high)}]"
        )


def _signed(value: float | None) -> str:
    """A difference with its sign; "-" where nothing was measured."""
    return "-" if value is None or not math.isfinite(value) else f"{value:+.4f}"


# -- monitor, compare, promote --------------------------------------------------------------------


def print_monitor(console: Console, report: MonitorReport) -> None:
    table = Table(
        title=f"{report.model_name} version {report.model_version}: {report.rows:,} answers",
        title_justify="left",
    )
    for name in ("window", "rows", "status", "most moved input (PSI)", "alerts"):
        table.add_column(name)
    for w in report.windows[-30:]:
        moved = max(w.drift.items(), key=lambda kv: kv[1]["psi"], default=None)
        table.add_row(
            w.start.strftime("%Y-%m-%d %H:%M"),
            str(w.rows),
            "[bold red]alert[/]" if w.status == "alert" else w.status,
            "" if moved is None else f"{escape(moved[0])} ({moved[1]['psi']:.3f})",
            escape("; ".join(w.alerts[:2]) + (" ..." if len(w.alerts) > 2 else "")),
        )
    console.print(table)
    for note in report.notes:
        console.print(f"note: {escape(note)}")
    verdict = "[bold red]ALERT[/]" if report.status == "alert" else "[bold green]all well[/]"
    console.print(f"status: {verdict}")


def print_comparison(console: Console, comparison: Comparison) -> None:
    table = Table(
        title=f"{comparison.model_name}: champion against challenger on {comparison.rows} "
        f"rows ({comparison.source})",
        title_justify="left",
    )
    for column in ("model", "version", comparison.metric, "95% interval"):
        table.add_column(column)
    for role, version, found in (
        ("champion", comparison.champion_version, comparison.champion),
        ("challenger", comparison.challenger_version, comparison.challenger),
    ):
        table.add_row(
            role, version, fmt(found["value"]), f"{fmt(found['low'])} to {fmt(found['high'])}"
        )
    console.print(table)
    console.print(escape(comparison.verdict))


def print_live(console: Console, test: LiveTest) -> None:
    table = Table(
        title=f"{test.model_name}: split of champion (version {test.champion_version}, "
        f"{test.champion_rows} labelled) and challenger (version {test.challenger_version}, "
        f"{test.challenger_rows} labelled)",
        title_justify="left",
    )
    for column in ("measure", "champion", "challenger", "difference", "95% sequence", "clear"):
        table.add_column(column)
    for m in test.measures:
        table.add_row(
            f"{m.name} ({m.better} is better)",
            fmt(m.champion_mean),
            fmt(m.challenger_mean),
            f"{m.difference:+.4f}",
            f"{m.low:+.4f} to {m.high:+.4f}",
            "not yet" if m.decided_at is None else f"{m.decided} after {m.decided_at}",
        )
    console.print(table)
    console.print(escape(test.verdict))
