"""The ``mlwright`` command: a thin dispatcher over the stages and the main job.

Errors from mlwright's hierarchy become a message and the error's exit code, never a
traceback (set MLWRIGHT_DEBUG=1 to see one).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlwright._interrupt import Terminated
from mlwright._progress import RichProgress
from mlwright.errors import MlwrightError, SpecError
from mlwright.spec import parse_duration

if TYPE_CHECKING:
    from mlwright.spec import TaskSpec

T = TypeVar("T")

app = typer.Typer(
    name="mlwright",
    help="A machine-learning engineer's job as software: frame a task, check the data, "
    "train, evaluate, register and score.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
INTERNAL_ERROR = 70
TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process that SIGTERM ended
# Options several commands share.
TrackingUri = Annotated[
    str | None, typer.Option("--tracking-uri", help="MLflow tracking URI for models:/ URIs.")
]
LogUrl = Annotated[
    str,
    typer.Option("--log", help="The prediction log the service writes (a SQLAlchemy URL)."),
]
TimeBudget = Annotated[
    str | None, typer.Option("--time-budget", help="Override the budget: 90s, 5m, 1h.")
]
MaxTrials = Annotated[
    int | None, typer.Option("--max-trials", min=1, help="Stop after N trials (reproducible).")
]
ArtifactDir = Annotated[
    Path | None, typer.Option("--out", help="Artifact directory (default: the spec's).")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
ModelName = Annotated[str, typer.Argument(help="Registered model name (champion and challenger).")]
LabelledData = Annotated[
    Path | None,
    typer.Option("--data", help="A labelled CSV or Parquet file to compare on instead."),
]
LEADERBOARD_ROWS = 12
# Output to a file or a pipe is read by programs and kept in logs: Rich lays it out this wide
# instead of the terminal's width (80 columns without one), so no line wraps and no cell is
# cut short ("catboo…").
REDIRECTED_WIDTH = 10_000


def _fail(exc: MlwrightError) -> None:
    # Messages quote user text ("[task]", "[leakage.single_feature:x]"): escape it, or Rich
    # would read it as markup and drop it.
    err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
    if exc.hint:
        err.print(f"  [bold]fix:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except MlwrightError as exc:
        if os.environ.get("MLWRIGHT_DEBUG"):
            raise
        _fail(exc)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Terminated as exc:
        err.print(
            "terminated (SIGTERM); the trials that finished are kept: run the same "
            "`mlwright run` with --resume to continue from them",
            highlight=False,
        )
        raise typer.Exit(int(exc.code or TERMINATED)) from None


def _refuse_directory(path: Path, option: str, example: str) -> None:
    """``option`` names a file to write; a directory of that name would fail the write (or
    be written into by accident)."""
    if path.is_dir():
        raise SpecError(
            f"{option} {path} is a directory; it must name a file",
            field=option,
            hint=f"name a file, e.g. {option} {path / example}",
        )


def _write_output(path: Path, option: str, write: Callable[[], object]) -> None:
    """``write()`` after creating ``path``'s folder; a folder or file that cannot be written
    (permissions, a full disk, a file where a folder should be) is the user's to fix."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write()
    except OSError as exc:
        raise SpecError(
            f"cannot write {option} {path}: {exc.strerror or exc}",
            field=option,
            hint="choose a path in a folder you can write to",
        ) from exc


# -- commands -------------------------------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        from mlwright import __version__

        out.print(f"mlwright {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """mlwright: frame -> check -> train -> evaluate -> register -> score."""
    for console in (out, err):
        if not console.is_terminal:
            console.width = REDIRECTED_WIDTH


@app.command()
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

    with _errors():
        _refuse_directory(output, "--output", "mlwright.toml")
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
        _write_output(output, "--output", lambda: output.write_text(text, encoding="utf-8"))
    shown = escape(str(output))
    out.print(f"wrote [bold]{shown}[/]; check it, then run: mlwright run {shown}")


@app.command("spec")
def spec_command(
    spec: Annotated[Path, typer.Argument(help="Task spec (TOML).")],
    show: Annotated[
        bool, typer.Option("--show", help="Print the resolved spec with every default.")
    ] = False,
) -> None:
    """Validate SPEC; with --show, print it resolved against its data."""
    from mlwright.data import load_training_data
    from mlwright.spec import load_spec, render_spec, resolve

    with _errors():
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


@app.command()
def check(
    spec: Annotated[Path, typer.Argument(help="Task spec (TOML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the data: types, quality, target, leakage, time order. Exit 4 on a blocking finding."""
    from mlwright.pipeline import check as run_check
    from mlwright.spec import load_spec, require_data_source

    with _errors():
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
        _print_schema(report.schema)
        _print_findings(report.findings, report.allow)
    with _errors():
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
        _print_findings(checks.findings, checks.allow)
    checks.raise_if_blocking()


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="Task spec (TOML).")],
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

    with _errors():
        task = _spec(spec, time_budget=time_budget, max_trials=max_trials, workers=workers)
        require_data_source(task)
        register = False if no_register else None
        if task.task.is_recommendation:
            recommended = _with_progress(
                quiet,
                lambda progress: train_recommendation(
                    task, progress=progress, out_dir=out_dir, register=register, started=started
                ),
            )
            _print_recommendation_summary(recommended)
            return
        result = _with_progress(
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
    _print_summary(result)


def _spec(path: Path, **overrides: object) -> TaskSpec:
    """The spec at ``path`` with the command's options that were given (not None)."""
    from mlwright.spec import load_spec, with_overrides

    task = load_spec(path)
    given = {k: v for k, v in overrides.items() if v is not None}
    return with_overrides(task, given) if given else task


def _with_progress(quiet: bool, work: Callable[[Any], T]) -> T:
    """``work(progress)`` with Rich progress bars on stderr, or silently with --quiet."""
    if quiet:
        return work(None)
    with RichProgress(err) as reporter:
        return work(reporter)


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="Artifact directory or models:/NAME@ALIAS.")],
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
    from mlwright.pipeline import predict_file, recommend_file
    from mlwright.recommend import MAX_K, Recommender
    from mlwright.registry import load_any

    with _errors():
        loaded = load_any(model, tracking_uri=tracking_uri)
        if not isinstance(loaded, Recommender):
            if k is not None:
                raise SpecError(
                    "--k applies to recommenders; this model predicts a table's rows",
                    field="--k",
                    hint="drop --k",
                )
            rows = predict_file(loaded, data, output, keep_columns=keep_columns)
            out.print(f"scored {rows} rows -> [bold]{escape(str(output))}[/]")
            return
        if keep_columns:
            raise SpecError(
                "--keep-columns applies to table models; a recommender writes a row per item",
                field="--keep-columns",
                hint="drop --keep-columns",
            )
        if k is not None and not 1 <= k <= MAX_K:
            raise SpecError(
                f"--k must be from 1 to {MAX_K}, got {k}", field="--k", hint="e.g. --k 10"
            )
        rows = recommend_file(loaded, data, output, k=10 if k is None else k)
    out.print(f"wrote {rows} recommendations -> [bold]{escape(str(output))}[/]")


@app.command()
def report(
    model: Annotated[str, typer.Argument(help="Artifact directory or models:/NAME@ALIAS.")],
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

    with _errors():
        if output is not None:
            _refuse_directory(output, "--out", "card.html")
        loaded = load_any(model, tracking_uri=tracking_uri)
        name = (
            str(loaded.metadata.get("name", "model"))
            if isinstance(loaded, Recommender)
            else loaded.spec.task_name
        )
        # The task's name is the spec author's text: "../x" must not leave this folder.
        page = output or Path(f"{safe_name(name)}_card.html")
        if output is None:  # a given --out was checked before the model was loaded
            _refuse_directory(page, "--out", "card.html")
        if page.suffix.lower() not in (".html", ".htm"):
            raise SpecError(
                f"--out must name an .html file, got {str(page)!r}",
                field="--out",
                hint="e.g. --out churn_card.html (the Markdown twin is written beside it)",
            )
        twin = page.with_suffix(".md")
        _refuse_directory(twin, "--out", "card.html")
        if isinstance(loaded, Recommender):
            card = recommender_model_card(loaded)
            _write_output(page, "--out", lambda: card.write(page, twin))
        else:
            _write_output(page, "--out", lambda: write_card(loaded, page, twin))
    out.print(f"model card -> [bold]{escape(str(page))}[/] and {escape(str(twin))}")


@app.command()
def serve(
    model: Annotated[str, typer.Argument(help="Artifact directory or models:/NAME@ALIAS.")],
    *,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes the service.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (each loads the model).")
    ] = 1,
    log: Annotated[
        str,
        typer.Option(
            "--log",
            help="Prediction log: a SQLAlchemy URL (sqlite:///predictions.db, "
            "postgresql+psycopg://...), or 'none'.",
        ),
    ] = "sqlite:///predictions.db",
    unknown_fields: Annotated[
        str,
        typer.Option("--unknown-fields", help="Fields the model does not know: reject or ignore."),
    ] = "reject",
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Largest request body (413 above).")
    ] = 1 << 20,
    max_records: Annotated[
        int, typer.Option("--max-records", min=1, help="Most records in one request.")
    ] = 1000,
    poll: Annotated[
        float,
        typer.Option(
            "--poll", min=0, help="Seconds between checks of a models:/NAME@ALIAS (0: never)."
        ),
    ] = 30.0,
    tracking_uri: TrackingUri = None,
    challenger: Annotated[
        str | None,
        typer.Option(
            "--challenger", help="A second model (path or models:/NAME@ALIAS) beside MODEL."
        ),
    ] = None,
    challenger_mode: Annotated[
        str,
        typer.Option(
            "--challenger-mode",
            help="shadow: it scores every request, logged, never returned; split: it answers "
            "--challenger-share of the requests.",
        ),
    ] = "shadow",
    challenger_share: Annotated[
        float,
        typer.Option("--challenger-share", min=0.0, max=1.0, help="Its share in a split."),
    ] = 0.1,
    log_grace: Annotated[
        float,
        typer.Option(
            "--log-grace",
            min=0.0,
            help="Seconds the log may take to write its backlog at shutdown; the rest is "
            "spilled to a file and written in at the next start.",
        ),
    ] = 5.0,
    log_stall: Annotated[
        float,
        typer.Option(
            "--log-stall", min=0.1, help="Seconds a log write may wait before readiness is 503."
        ),
    ] = 3.0,
) -> None:
    """Serve MODEL over HTTP: POST /predict and /explain, health, /metadata, /metrics.
    API keys come from the environment: MLWRIGHT_API_KEY (for /predict and /explain) and
    MLWRIGHT_ADMIN_KEY (enables /admin/reload)."""
    from mlwright.serve import UNKNOWN_FIELDS, ServeSettings, log_engine
    from mlwright.serve import serve as run_service

    with _errors():
        if unknown_fields not in UNKNOWN_FIELDS:
            raise SpecError(
                f"--unknown-fields must be one of {', '.join(UNKNOWN_FIELDS)}, got "
                f"{unknown_fields!r}",
                field="--unknown-fields",
            )
        log_url = None if log.lower() == "none" else log
        if log_url is not None:
            log_engine(log_url).dispose()  # a bad URL fails here, before the server starts
        settings = ServeSettings(
            model=model,
            tracking_uri=tracking_uri,
            log=log_url,
            unknown_fields=unknown_fields,
            max_body_bytes=max_body_bytes,
            max_records=max_records,
            poll_seconds=poll,
            challenger=challenger,
            challenger_mode=challenger_mode,  # type: ignore[arg-type]  # checked at load
            challenger_share=challenger_share,
            log_grace_seconds=log_grace,
            log_stall_seconds=log_stall,
            api_key=os.environ.get("MLWRIGHT_API_KEY") or None,
            admin_key=os.environ.get("MLWRIGHT_ADMIN_KEY") or None,
        )
        run_service(settings, host=host, port=port, workers=workers)


def _moment(value: str | None, option: str) -> dt.datetime | None:
    """An ISO date or time (UTC unless it says otherwise), or a duration ago ('7d', '12h')."""
    if value is None:
        return None
    try:
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise SpecError(
            f"{option} {value!r} is neither a date, a time nor a duration",
            field=option,
            hint="write e.g. 2026-03-01, 2026-03-01T06:00 or 7d (seven days ago)",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@app.command()
def monitor(
    model: Annotated[str, typer.Argument(help="Artifact directory or models:/NAME@ALIAS.")],
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

    with _errors():
        settings_window = None if window is None else _window_seconds(window)
        start, end = _moment(since, "--since"), _moment(until, "--until")
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

        _write_output(output / "monitor.json", "--out", write_reports)
    _print_monitor(report)
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


log_commands = typer.Typer(
    name="log",
    help="The prediction log: write in the answers a service spilled at shutdown.",
    no_args_is_help=True,
)
app.add_typer(log_commands)


@log_commands.command("replay")
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

    with _errors():
        result = replay_spill(log, spill)
    out.print(escape(result.summary()), highlight=False, soft_wrap=True)


@app.command()
def feedback(
    model: Annotated[str, typer.Argument(help="Artifact directory or models:/NAME@ALIAS.")],
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

    with _errors():
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


@app.command()
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

    with _errors():
        task = _spec(spec, time_budget=time_budget, max_trials=max_trials)
        if task.task.is_recommendation:
            raise SpecError(
                f"{spec} is a recommendation spec; retrain trains a challenger for a table "
                "model from the labelled answers in its prediction log",
                field="problem_type",
                hint="for a recommender, run `mlwright run SPEC` on the grown interaction "
                "log: it registers a challenger whose card scores it on held-out users; then "
                '`mlwright promote NAME --force --reason "..."`',
            )
        start = _moment(since, "--since")
        result = _with_progress(
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


@app.command()
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

    with _errors():
        start = _moment(since, "--since")
        if live:
            _print_live(live_test(name, log, tracking_uri=tracking_uri, since=start))
            return
        table = None if data is None else read_file(data)
        comparison = compare_models(name, log, tracking_uri=tracking_uri, since=start, data=table)
    _print_comparison(comparison)


@app.command()
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

    with _errors():
        table = None if data is None else read_file(data)
        promotion = promote_model(
            name,
            log,
            tracking_uri=tracking_uri,
            force=force,
            reason=reason,
            since=_moment(since, "--since"),
            data=table,
            live=live,
        )
    if promotion.comparison is not None:
        _print_comparison(promotion.comparison)
    if promotion.live is not None:
        _print_live(promotion.live)
    if promotion.promoted:
        how = " (forced)" if promotion.forced else ""
        out.print(
            f"[bold green]promoted[/]{how}: {escape(name)} version {promotion.champion_version} "
            f"is the champion (was {promotion.previous_version})"
        )
        return
    out.print(f"[bold]not promoted[/]: {escape(promotion.reason)}; nothing changed")
    raise typer.Exit(1)


# -- printing -------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.{digits}g}" if abs(value) >= 1e5 else f"{value:.{digits}f}"
    return str(value)


def _print_monitor(report: Any) -> None:
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
    out.print(table)
    for note in report.notes:
        out.print(f"note: {escape(note)}")
    verdict = "[bold red]ALERT[/]" if report.status == "alert" else "[bold green]all well[/]"
    out.print(f"status: {verdict}")


def _print_comparison(comparison: Any) -> None:
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
            role, version, _fmt(found["value"]), f"{_fmt(found['low'])} to {_fmt(found['high'])}"
        )
    out.print(table)
    out.print(escape(comparison.verdict))


def _print_live(test: Any) -> None:
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
            _fmt(m.champion_mean),
            _fmt(m.challenger_mean),
            f"{m.difference:+.4f}",
            f"{m.low:+.4f} to {m.high:+.4f}",
            "not yet" if m.decided_at is None else f"{m.decided} after {m.decided_at}",
        )
    out.print(table)
    out.print(escape(test.verdict))


def _print_schema(schema: Any) -> None:
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
    out.print(table)


_SEVERITY_STYLE = {"blocking": "bold red", "warning": "yellow", "info": "dim"}


def _print_findings(findings: list[Any], allow: list[str]) -> None:
    if not findings:
        out.print("[green]no findings[/]")
        return
    table = Table(title="findings", title_justify="left", show_lines=True)
    for name in ("severity", "finding", "what", "evidence", "action"):
        table.add_column(name, overflow="fold")
    for f in findings:
        severity = f.severity + (
            " (allowed)" if f.severity == "blocking" and f.allowed_by(allow) else ""
        )
        evidence = ", ".join(f"{k}={_fmt(v)}" for k, v in list(f.evidence.items())[:6])
        table.add_row(
            f"[{_SEVERITY_STYLE[f.severity]}]{severity}[/]",
            *(escape(text) for text in (f.key, f.message, evidence, f.action)),
        )
    out.print(table)


def _print_summary(result: Any) -> None:
    model = result.model
    metrics = model.metrics
    metric = metrics["metric"]
    board = Table(
        title="leaderboard (cross-validation; * chosen, ◆ Pareto front of score vs latency)",
        title_justify="left",
    )
    for name in ("rank", "model", f"cv {metric}", "± std", "fit s", "p99 µs", "MB", "weight"):
        board.add_column(name, justify="left" if name == "model" else "right")
    board.add_column("status")
    rows = model.metadata["leaderboard"]
    shown = [r for r in rows if r["status"] == "ok"][:LEADERBOARD_ROWS]
    shown += [r for r in rows if r["family"] == "baseline" and r not in shown]  # always beside
    shown += [r for r in rows if r["status"] == "failed"]
    for row in shown:
        marks = ("*" if row["chosen"] else " ") + ("◆" if row.get("pareto") else " ")
        board.add_row(
            _fmt(row["rank"]),
            f"{marks} {escape(row['model'])}",
            _fmt(row[f"cv_{metric}"]),
            _fmt(row["cv_std"]),
            _fmt(row["fit_seconds"], 2),
            _fmt(row.get("p99_us"), 3),
            _fmt(row.get("size_mb"), 2),
            f"{row['weight']:.2f}" if row.get("weight") else "",
            escape(row["status"] + (f" ({row['note']})" if row["note"] else "")),
        )
    out.print(board)
    hidden = len([r for r in rows if r["status"] == "ok" and r not in shown])
    skipped = [r for r in rows if r["status"] == "skipped"]
    if hidden > 0 or skipped:
        more = f"{hidden} more trials" if hidden > 0 else ""
        if skipped:
            more += (", " if more else "") + f"{len(skipped)} not reached"
        out.print(f"  ({more}: Model.leaderboard has them all)")
    out.print(f"chosen: {escape(model.metadata.get('chosen', ''))}")
    hold = metrics["holdout"]
    m, b = hold["model"], hold["baseline"]
    out.print(
        f"holdout {metric} ({hold['rows']} rows): [bold]{_fmt(m['value'])}[/] "
        f"[95% {_fmt(m['low'])}-{_fmt(m['high'])}]   baseline {_fmt(b['value'])} "
        f"[{_fmt(b['low'])}-{_fmt(b['high'])}]"
    )
    single = hold.get("best_single")
    if single:
        out.print(
            f"  best single model {escape(single['model'])}: {_fmt(single['value'])} "
            f"[{_fmt(single['low'])}-{_fmt(single['high'])}]"
        )
    decision = metrics.get("decision")
    if decision and "threshold" not in decision:
        v = {k: i["value"] for k, i in decision["holdout_value_per_1000"].items()}
        at = decision["holdout_value_per_1000"]["highest_expected_value"]
        others = ", ".join(
            f"{value:,.0f} {name.replace('_', ' ')}"
            for name, value in v.items()
            if name != "highest_expected_value"
        )
        out.print(
            f"decisions by expected value under the value matrix: value per 1,000 decisions "
            f"{at['value']:,.0f} [95% {at['low']:,.0f} to {at['high']:,.0f}] vs {others}"
        )
    elif decision:
        v = {k: i["value"] for k, i in decision["holdout_value_per_1000"].items()}
        at = decision["holdout_value_per_1000"]["model_at_threshold"]
        out.print(
            f"decision threshold {decision['threshold']:.3f} (max business value on out-of-fold "
            f"predictions): value per 1,000 decisions {v['model_at_threshold']:,.0f} "
            f"[95% {at['low']:,.0f} to {at['high']:,.0f}] vs "
            f"{v['model_at_0.5']:,.0f} at 0.5, {v['act_on_everyone']:,.0f} acting on everyone, "
            f"{v['act_on_no_one']:,.0f} on no one"
        )
    calibration = metrics.get("calibration")
    if calibration:
        hold_cal = calibration["holdout"]
        out.print(
            f"calibration: {escape(calibration['reason'])}; holdout expected calibration error "
            f"{_fmt(hold_cal['ece_after'], 3)}"
            + (
                f" (uncalibrated {_fmt(hold_cal['ece_before'], 3)})"
                if calibration["chosen"] != "none"
                else ""
            )
        )
    intervals = metrics.get("intervals")
    if intervals:
        at = intervals["levels"].get("0.9")
        if at:
            covered = at["holdout_coverage"]
            out.print(
                f"90% prediction intervals (conformal): mean width {_fmt(at['mean_width'])}, "
                f"holdout coverage {covered['value']:.1%} "
                f"[95% {covered['low']:.1%}-{covered['high']:.1%}]"
            )
    if model.metadata.get("interrupted"):
        out.print(
            "[yellow]search interrupted[/]: the model uses the trials that finished "
            f"({sum(r['status'] == 'ok' for r in model.metadata['leaderboard'])} of them)"
        )
    if result.search.resume_note is not None:
        out.print(escape(result.search.resume_note), highlight=False)
    latency = model.metadata.get("latency", {})
    out.print(
        f"predict_one latency: p50 {_fmt(latency.get('p50_us'), 1)} µs, p99 "
        f"{_fmt(latency.get('p99_us'), 1)} µs; model size {model.metadata.get('size_mb', 0):.2f} MB"
    )
    _print_time(
        result.timings,
        model.spec.constraints.time_budget,
        model.metadata.get("budget", {}).get("skipped", {}),
    )
    where = _print_where(result)
    if where is None:
        return
    out.print(f"score a file: mlwright predict {escape(where)} DATA.csv -o predictions.csv")
    out.print(f"load it in Python: mlwright.load({escape(repr(where))})")


def _print_time(timings: dict[str, float], budget: float, skipped: dict[str, str]) -> None:
    """What the time budget left out, and the run's wall time (registration included) beside
    its budget, with the overrun when there is one."""
    for step, why in skipped.items():
        out.print(f"[yellow]not done[/]: {escape(step)}: {escape(why)}")
    wall = timings.get("wall")
    if wall is None:
        return
    steps = ", ".join(
        f"{name.replace('_', ' ')} {seconds:.1f}"
        for name, seconds in timings.items()
        if name not in ("wall", "until_save", "store_wait")
    )
    if wall > budget:
        out.print(
            f"[yellow]time: {wall:.1f} s, {wall - budget:.1f} s past the {budget:g} s budget[/] "
            f"({steps} s)"
        )
    else:
        out.print(f"time: {wall:.1f} s of the {budget:g} s budget ({steps} s)")


def _print_where(result: Any) -> str | None:
    """Where a run put its model (artifact, card, registration); the reference to use."""
    if result.artifact_dir is not None:
        out.print(f"artifact: [bold]{escape(str(result.artifact_dir))}[/]")
        card = result.artifact_dir / "model_card.html"
        if card.exists():
            out.print(f"model card: [bold]{escape(str(card))}[/] (and model_card.md)")
    if result.registration is not None:
        reg = result.registration
        out.print(
            f"registered: [bold]{escape(reg.model_name)}[/] version {reg.version} as "
            f"'{reg.alias}' ({escape(reg.uri)}) in {escape(reg.tracking_uri)}"
        )
        return str(reg.uri)
    return None if result.artifact_dir is None else str(result.artifact_dir)


def _print_recommendation_summary(result: Any) -> None:
    model = result.model
    evaluation = model.metadata["evaluation"]
    k = evaluation["k"]
    board = Table(
        title=f"held-out users ({evaluation['users']}, protocol '{evaluation['protocol']}'): "
        "full ranking, 95% intervals over users",
        title_justify="left",
    )
    for name in ("system", f"NDCG@{k}", "95% interval", f"recall@{k}", f"coverage@{k}"):
        board.add_column(name, justify="left" if name == "system" else "right")
    for system, scores in evaluation["scores"].items():
        ndcg = scores[f"ndcg@{k}"]
        board.add_row(
            ("* " if system == "model" else "  ") + escape(system),
            _fmt(ndcg["value"]),
            f"{_fmt(ndcg['low'])}-{_fmt(ndcg['high'])}",
            _fmt(scores[f"recall@{k}"]["value"]),
            _fmt(scores[f"coverage@{k}"]["value"], 3),
        )
    out.print(board)
    for name, diff in evaluation.get("differences", {}).items():
        out.print(
            f"{escape(name)}: NDCG {diff['value']:+.4f} [95% {diff['low']:+.4f} to "
            f"{diff['high']:+.4f}]"
        )
    from mlwright.recommend import chosen_text

    out.print(f"recommends with: {escape(chosen_text(model))}")
    _print_time(
        result.timings,
        model.metadata.get("budget", {}).get("seconds", 0.0),
        model.metadata.get("budget", {}).get("skipped", {}),
    )
    where = _print_where(result)
    if where is not None:
        out.print(f"serve it: mlwright serve {escape(where)}")
        out.print(f"load it in Python: mlwright.load({escape(repr(where))}).recommend(user=...)")


def main() -> None:
    try:
        app()
    except MlwrightError as exc:  # pragma: no cover - commands catch their own
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("MLWRIGHT_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "  this is a bug in mlwright; rerun with MLWRIGHT_DEBUG=1 for the traceback and "
            "report it",
            markup=False,
            highlight=False,
        )
        sys.exit(INTERNAL_ERROR)
