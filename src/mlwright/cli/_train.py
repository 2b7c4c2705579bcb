"""From a spec to a model and what it writes: init, spec, check, run, predict, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from mlwright.cli._app import (
    ArtifactDir,
    MaxTrials,
    ModelRef,
    Quiet,
    SpecPath,
    TimeBudget,
    TrackingUri,
    exit_codes,
    load_spec_with,
    out,
    refuse_directory,
    with_progress,
    write_output,
)
from mlwright.cli._print import (
    print_findings,
    print_recommendation_summary,
    print_schema,
    print_summary,
)
from mlwright.errors import SpecError

if TYPE_CHECKING:
    from mlwright.recommend import Recommender
    from mlwright.spec import TaskSpec


def init(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file to train from.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the spec.")] = Path(
        "mlwright.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing spec.")] = False,
) -> None:
    """Write a commented task spec inferred from DATA."""
    from mlwright.data import infer_schema, read_file
    from mlwright.spec import draft_base, draft_spec, resolve

    with exit_codes():
        refuse_directory(output, "--output", "mlwright.toml")
        if output.exists() and not force:
            raise SpecError(
                f"{output} exists already", field=str(output), hint="pass --force to overwrite it"
            )
        frame = read_file(data)
        base = draft_base(data, target, output)
        resolution = resolve(base, frame)
        columns = infer_schema(frame, resolution.spec).columns
        text = draft_spec(
            base,
            resolution,
            identifiers=[c.name for c in columns if c.kind == "identifier"],
            datetimes=[c.name for c in columns if c.kind == "datetime" and c.role == "feature"],
            header=f"mlwright task spec for {data.name} ({frame.height} rows, {frame.width} "
            "columns), written by `mlwright init`. Every field is shown with its default; check "
            "the ones marked inferred.",
        )
        write_output(output, "--output", lambda: output.write_text(text, encoding="utf-8"))
    shown = escape(str(output))
    out.print(f"wrote [bold]{shown}[/]; check it, then run: mlwright run {shown}")


def spec_command(
    spec: SpecPath,
    show: Annotated[
        bool, typer.Option("--show", help="Print the resolved spec with every default.")
    ] = False,
) -> None:
    """Validate SPEC; with --show, print it resolved against its data."""
    from mlwright.data import load_training_data
    from mlwright.spec import load_spec, render_spec, resolve

    with exit_codes():
        task = load_spec(spec)
        notes: dict[str, str] = {}
        if task.data.path or task.data.sql:
            resolution = resolve(task, load_training_data(task))
            task = resolution.spec
            notes = dict(resolution.reasons)
    if show:
        # Plain text, never wrapped: the output is a TOML file (`--show > spec.toml`).
        sys.stdout.write(render_spec(task, notes=notes, header=f"resolved spec: {spec}"))
    else:
        out.print(f"[green]ok[/]: {escape(str(spec))} is a valid spec")


def check(
    spec: SpecPath,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the data: types, quality, target, leakage, time order. Exit 4 on a blocking finding."""
    from mlwright.pipeline import check as run_check
    from mlwright.spec import load_spec, require_data_source

    with exit_codes():
        task = load_spec(spec)
        require_data_source(task)
        if task.task.is_recommendation:
            _check_recommendation(task, as_json)
            return
        checked = run_check(task)
    report = checked.report
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=1, default=str) + "\n")
    else:
        print_schema(out, report.schema)
        print_findings(out, report.findings, report.allow)
    with exit_codes():
        report.raise_if_blocking()  # the findings and the checks.allow override, on stderr


def _check_recommendation(task: TaskSpec, as_json: bool) -> None:
    from mlwright.pipeline import check_recommendation

    _, checks = check_recommendation(task)
    if as_json:
        sys.stdout.write(json.dumps(checks.to_dict(), indent=1, default=str) + "\n")
    else:
        out.print(
            f"interaction log: {checks.rows:,} rows, {checks.users:,} users, {checks.items:,} items"
        )
        print_findings(out, checks.findings, checks.allow)
    checks.raise_if_blocking()


def run(
    spec: SpecPath,
    *,
    time_budget: TimeBudget = None,
    out_dir: ArtifactDir = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Save the artifact but skip MLflow.")
    ] = False,
    max_trials: MaxTrials = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Worker processes for trials (default: cores)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Reuse the finished trials of an interrupted run."),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """The main job: check -> train -> evaluate on the holdout -> save -> register."""
    from mlwright._clock import process_started

    started = process_started()  # the time budget covers the whole command
    from mlwright.pipeline import train, train_recommendation
    from mlwright.spec import require_data_source

    with exit_codes():
        task = load_spec_with(spec, time_budget=time_budget, max_trials=max_trials, workers=workers)
        require_data_source(task)
        register = False if no_register else None
        if task.task.is_recommendation:
            recommended = with_progress(
                quiet,
                lambda progress: train_recommendation(
                    task, progress=progress, out_dir=out_dir, register=register, started=started
                ),
            )
            print_recommendation_summary(out, recommended)
            return
        result = with_progress(
            quiet,
            lambda progress: train(
                task,
                progress=progress,
                out_dir=out_dir,
                register=register,
                resume=resume,
                started=started,
            ),
        )
    print_summary(out, result)


def predict(
    model: ModelRef,
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file to score.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet.")],
    *,
    keep_columns: Annotated[
        bool, typer.Option("--keep-columns", help="Copy every input column to the output.")
    ] = False,
    k: Annotated[
        int | None,
        typer.Option("--k", "-k", help="Items per user, 1 to 1000 (recommenders; default 10)."),
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Score DATA in batch with MODEL into OUTPUT. For a recommender, DATA names users
    (and optionally their recent items) and OUTPUT gets their top-k items, a row each."""
    from mlwright.pipeline import predict_file
    from mlwright.recommend import Recommender
    from mlwright.registry import load_any

    with exit_codes():
        loaded = load_any(model, tracking_uri=tracking_uri)
        if isinstance(loaded, Recommender):
            rows = _recommend_file(loaded, data, output, keep_columns=keep_columns, k=k)
            out.print(f"wrote {rows} recommendations -> [bold]{escape(str(output))}[/]")
            return
        if k is not None:
            raise SpecError(
                "--k applies to recommenders; this model predicts a table's rows",
                field="--k",
                hint="drop --k",
            )
        rows = predict_file(loaded, data, output, keep_columns=keep_columns)
    out.print(f"scored {rows} rows -> [bold]{escape(str(output))}[/]")


def _recommend_file(
    model: Recommender, data: Path, output: Path, *, keep_columns: bool, k: int | None
) -> int:
    """`predict` for a recommender: the top-k items of each user DATA names, into OUTPUT."""
    from mlwright.pipeline import recommend_file
    from mlwright.recommend import MAX_K

    if keep_columns:
        raise SpecError(
            "--keep-columns applies to table models; a recommender writes a row per item",
            field="--keep-columns",
            hint="drop --keep-columns",
        )
    if k is not None and not 1 <= k <= MAX_K:
        raise SpecError(f"--k must be from 1 to {MAX_K}, got {k}", field="--k", hint="e.g. --k 10")
    return recommend_file(model, data, output, k=10 if k is None else k)


def report(
    model: ModelRef,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="HTML file to write; the Markdown twin goes beside it (.md). "
            "Default: <task name>_card.html in the current directory.",
        ),
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Write MODEL's model card: one self-contained HTML page with plots (works offline)
    and its Markdown twin, from the evidence stored in the artifact."""
    from mlwright.pipeline import recommender_model_card
    from mlwright.recommend import Recommender
    from mlwright.registry import load_any
    from mlwright.report import write_card
    from mlwright.spec import safe_name

    with exit_codes():
        if output is not None:
            refuse_directory(output, "--out", "card.html")
        loaded = load_any(model, tracking_uri=tracking_uri)
        name = (
            str(loaded.metadata.get("name", "model"))
            if isinstance(loaded, Recommender)
            else loaded.spec.task_name
        )
        # The task's name is the spec author's text: "../x" must not leave this folder.
        page = output or Path(f"{safe_name(name)}_card.html")
        if output is None:  # a given --out was checked before the model was loaded
            refuse_directory(page, "--out", "card.html")
        if page.suffix.lower() not in (".html", ".htm"):
            raise SpecError(
                f"--out must name an .html file, got {str(page)!r}",
                field="--out",
                hint="e.g. --out churn_card.html (the Markdown twin is written beside it)",
            )
        twin = page.with_suffix(".md")
        refuse_directory(twin, "--out", "card.html")
        if isinstance(loaded, Recommender):
            card = recommender_model_card(loaded)
            write_output(page, "--out", lambda: card.write(page, twin))
        else:
            write_output(page, "--out", lambda: write_card(loaded, page, twin))
    out.print(f"model card -> [bold]{escape(str(page))}[/] and {escape(str(twin))}")
