"""After serving: monitor, log replay, feedback, retrain, compare and promote."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mlwright.cli._app import (
    ArtifactDir,
    LabelledData,
    LogUrl,
    MaxTrials,
    ModelName,
    ModelRef,
    Quiet,
    TimeBudget,
    TrackingUri,
    exit_codes,
    load_spec_with,
    moment,
    out,
    with_progress,
    write_output,
)
from mlwright.cli._print import print_comparison, print_live, print_monitor
from mlwright.errors import SpecError
from mlwright.spec import parse_duration


def monitor(
    model: ModelRef,
    *,
    log: LogUrl = "sqlite:///predictions.db",
    since: Annotated[
        str | None,
        typer.Option("--since", help="First moment watched: 2026-03-01, ...T06:00, or 7d (ago)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Moment the watch ends (same forms); default now.")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="Window length, e.g. 1h or 1d (default: the spec's, 1d)."),
    ] = None,
    min_rows: Annotated[
        int | None,
        typer.Option("--min-rows", min=10, help="Rows a window needs to be judged (default 200)."),
    ] = None,
    output: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for monitor.json, monitor.html and monitor.md.",
        ),
    ] = Path("monitoring"),
    tracking_uri: TrackingUri = None,
) -> None:
    """Judge MODEL's served traffic, window by window, against its training reference:
    drift, data quality, predictions, estimated and (with labels) realised performance.
    Writes JSON and an HTML dashboard; exits 0 when all is well and 1 on an alert."""
    from mlwright.monitor import dashboard, require_table_model, settings_for
    from mlwright.monitor import monitor as watch
    from mlwright.registry import load_any
    from mlwright.serve import served_identity

    with exit_codes():
        settings_window = None if window is None else _window_seconds(window)
        start, end = moment(since, "--since"), moment(until, "--until")
        if output.exists() and not output.is_dir():
            raise SpecError(
                f"--out {output} is a file; it must name a directory for the report files",
                field="--out",
                hint="e.g. --out monitoring",
            )
        loaded = require_table_model(load_any(model, tracking_uri=tracking_uri), "monitor", model)
        name, version = served_identity(loaded, model)
        settings = settings_for(loaded, window=settings_window, min_rows=min_rows)
        report = watch(
            loaded,
            log,
            model_name=name,
            model_version=version,
            since=start,
            until=end,
            settings=settings,
        )
        page = dashboard(report)

        def write_reports() -> None:
            (output / "monitor.json").write_bytes(report.to_json())
            (output / "monitor.html").write_text(page.to_html())
            (output / "monitor.md").write_text(page.to_markdown())

        write_output(output / "monitor.json", "--out", write_reports)
    print_monitor(out, report)
    out.print(f"dashboard -> [bold]{escape(str(output / 'monitor.html'))}[/] (and monitor.json)")
    raise typer.Exit(report.exit_code)


def _window_seconds(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise SpecError(
            str(exc), field="--window", hint="e.g. --window 1h or --window 1d"
        ) from None
    if seconds <= 0:
        raise SpecError(
            f"--window must be longer than 0, got {text!r}",
            field="--window",
            hint="e.g. --window 1h or --window 1d",
        )
    return seconds


def log_replay(
    *,
    log: LogUrl = "sqlite:///predictions.db",
    spill: Annotated[
        Path | None,
        typer.Option("--spill", help="The spill file (default: the one of the --log)."),
    ] = None,
) -> None:
    """Write the answers a service could not write before it stopped (its spill file) into
    the log, skipping those already there; the file is removed once they are committed."""
    from mlwright.serve import replay_spill

    with exit_codes():
        result = replay_spill(log, spill)
    out.print(escape(result.summary()), highlight=False, soft_wrap=True)


def feedback(
    model: ModelRef,
    labels: Annotated[
        Path, typer.Argument(help="CSV or Parquet: a prediction id and a label per row.")
    ],
    *,
    log: LogUrl = "sqlite:///predictions.db",
    id_column: Annotated[
        str, typer.Option("--id-column", help="Column of prediction ids.")
    ] = "prediction_id",
    label_column: Annotated[
        str | None,
        typer.Option("--label-column", help="Column of labels (default: the target, or 'label')."),
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Join late labels to MODEL's logged predictions by prediction id (a later label of
    the same id replaces the first); ids that match no prediction are counted, not stored."""
    from mlwright.data import read_file
    from mlwright.monitor import add_feedback, require_table_model
    from mlwright.registry import load_any
    from mlwright.serve import served_identity

    with exit_codes():
        loaded = require_table_model(load_any(model, tracking_uri=tracking_uri), "feedback", model)
        name, _ = served_identity(loaded, model)
        table = read_file(labels)
        result = add_feedback(
            loaded, log, table, model_name=name, id_column=id_column, label_column=label_column
        )
    out.print(
        f"stored {result.stored} labels ({result.replaced} replacing earlier ones) of "
        f"{result.received} rows; {result.unmatched} ids match no logged prediction of "
        f"{escape(name)}"
        + (f" (e.g. {', '.join(result.unmatched_examples)})" if result.unmatched else "")
        + (
            f"; {result.missing_labels} rows without a label skipped"
            if result.missing_labels
            else ""
        )
        + (f"; {result.duplicates} repeated ids (the last kept)" if result.duplicates else "")
    )


def retrain(
    spec: Annotated[Path, typer.Argument(help="Task spec (TOML) of the served model.")],
    *,
    log: LogUrl = "sqlite:///predictions.db",
    since: Annotated[
        str | None,
        typer.Option("--since", help="Labelled answers from: 2026-03-01, ...T06:00, or 30d (ago)."),
    ] = None,
    no_files: Annotated[
        bool,
        typer.Option(
            "--no-files", help="Train on the labelled answers alone, not the spec's data."
        ),
    ] = False,
    time_budget: TimeBudget = None,
    max_trials: MaxTrials = None,
    out_dir: ArtifactDir = None,
    quiet: Quiet = False,
) -> None:
    """Train a challenger on the spec's data plus the labelled answers in the log (the
    most recent share kept out, for `compare`) and register it as `challenger`."""
    from mlwright.monitor import retrain as retrain_model

    with exit_codes():
        task = load_spec_with(spec, time_budget=time_budget, max_trials=max_trials)
        if task.task.is_recommendation:
            raise SpecError(
                f"{spec} is a recommendation spec; retrain trains a challenger for a table "
                "model from the labelled answers in its prediction log",
                field="problem_type",
                hint="for a recommender, run `mlwright run SPEC` on the grown interaction "
                "log: it registers a challenger whose card scores it on held-out users; then "
                '`mlwright promote NAME --force --reason "..."`',
            )
        start = moment(since, "--since")
        result = with_progress(
            quiet,
            lambda progress: retrain_model(
                task,
                log,
                since=start,
                include_files=not no_files,
                out_dir=out_dir,
                progress=progress,
            ),
        )
    registration = result.registration
    out.print(
        f"trained on {result.rows_from_files} rows of the spec's data and {result.rows_from_log} "
        f"labelled answers; {result.reserved} recent answers kept out for the comparison "
        f"(from {result.compare_from.isoformat(timespec='seconds')})"
    )
    if registration is not None:
        out.print(
            f"registered {escape(registration.model_name)} version {registration.version} as "
            f"[bold]{registration.alias}[/] ({escape(registration.uri)})"
        )
        if registration.alias == "challenger":
            out.print(
                f"next: mlwright compare {escape(registration.model_name)} --log {escape(log)}"
            )


def compare(
    name: ModelName,
    *,
    log: LogUrl = "sqlite:///predictions.db",
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Rows from (default: where the challenger's retrain kept rows out)."
        ),
    ] = None,
    data: LabelledData = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Judge a traffic split instead: each arm's labelled answers, sequential test.",
        ),
    ] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Score champion and challenger on the same recent labelled rows, with the paired
    difference and its 95% interval (or, with --live, run the sequential test of a traffic
    split); the verdict says whether `promote` would move."""
    from mlwright.data import read_file
    from mlwright.monitor import compare as compare_models
    from mlwright.monitor import live_test

    with exit_codes():
        start = moment(since, "--since")
        if live:
            print_live(out, live_test(name, log, tracking_uri=tracking_uri, since=start))
            return
        table = None if data is None else read_file(data)
        comparison = compare_models(name, log, tracking_uri=tracking_uri, since=start, data=table)
    print_comparison(out, comparison)


def promote(
    name: ModelName,
    *,
    log: LogUrl = "sqlite:///predictions.db",
    since: Annotated[
        str | None, typer.Option("--since", help="Rows compared from (as for compare).")
    ] = None,
    data: LabelledData = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Promote even without a clear win (recorded as forced)."),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (recorded with the promotion).")
    ] = None,
    live: Annotated[
        bool,
        typer.Option("--live", help="Decide on the sequential test of a traffic split."),
    ] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Move the `champion` alias to the challenger when it beats the champion by the spec's
    promotion margin on the same recent labelled rows (servers following the alias swap
    to it); otherwise change nothing and exit 1."""
    from mlwright.data import read_file
    from mlwright.monitor import promote as promote_model

    with exit_codes():
        table = None if data is None else read_file(data)
        promotion = promote_model(
            name,
            log,
            tracking_uri=tracking_uri,
            force=force,
            reason=reason,
            since=moment(since, "--since"),
            data=table,
            live=live,
        )
    if promotion.comparison is not None:
        print_comparison(out, promotion.comparison)
    if promotion.live is not None:
        print_live(out, promotion.live)
    if promotion.promoted:
        how = " (forced)" if promotion.forced else ""
        out.print(
            f"[bold green]promoted[/]{how}: {escape(name)} version {promotion.champion_version} "
            f"is the champion (was {promotion.previous_version})"
        )
        return
    out.print(f"[bold]not promoted[/]: {escape(promotion.reason)}; nothing changed")
    raise typer.Exit(1)
