"""``mlwright serve``: the HTTP service over a model, with its prediction log.

Every setting of the service is an option of the command, so the command takes more
parameters than the project's limit of 8 (pyproject.toml exempts this file from PLR0913).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from mlwright.cli._app import ModelRef, TrackingUri, exit_codes
from mlwright.errors import SpecError

# The service's options that need more than a line.
PredictionLog = Annotated[
    str,
    typer.Option(
        "--log",
        help="Prediction log: a SQLAlchemy URL (sqlite:///predictions.db, "
        "postgresql+psycopg://...), or 'none'.",
    ),
]
UnknownFields = Annotated[
    str,
    typer.Option("--unknown-fields", help="Fields the model does not know: reject or ignore."),
]
Poll = Annotated[
    float,
    typer.Option(
        "--poll", min=0, help="Seconds between checks of a models:/NAME@ALIAS (0: never)."
    ),
]
Challenger = Annotated[
    str | None,
    typer.Option("--challenger", help="A second model (path or models:/NAME@ALIAS) beside MODEL."),
]
ChallengerMode = Annotated[
    str,
    typer.Option(
        "--challenger-mode",
        help="shadow: it scores every request, logged, never returned; split: it answers "
        "--challenger-share of the requests.",
    ),
]
ChallengerShare = Annotated[
    float,
    typer.Option("--challenger-share", min=0.0, max=1.0, help="Its share in a split."),
]
LogGrace = Annotated[
    float,
    typer.Option(
        "--log-grace",
        min=0.0,
        help="Seconds the log may take to write its backlog at shutdown; the rest is "
        "spilled to a file and written in at the next start.",
    ),
]
LogStall = Annotated[
    float,
    typer.Option(
        "--log-stall", min=0.1, help="Seconds a log write may wait before readiness is 503."
    ),
]


def serve(
    model: ModelRef,
    *,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes the service.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (each loads the model).")
    ] = 1,
    log: PredictionLog = "sqlite:///predictions.db",
    unknown_fields: UnknownFields = "reject",
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Largest request body (413 above).")
    ] = 1 << 20,
    max_records: Annotated[
        int, typer.Option("--max-records", min=1, help="Most records in one request.")
    ] = 1000,
    poll: Poll = 30.0,
    tracking_uri: TrackingUri = None,
    challenger: Challenger = None,
    challenger_mode: ChallengerMode = "shadow",
    challenger_share: ChallengerShare = 0.1,
    log_grace: LogGrace = 5.0,
    log_stall: LogStall = 3.0,
) -> None:
    """Serve MODEL over HTTP: POST /predict and /explain, health, /metadata, /metrics.
    API keys come from the environment: MLWRIGHT_API_KEY (for /predict and /explain) and
    MLWRIGHT_ADMIN_KEY (enables /admin/reload)."""
    from mlwright.serve import UNKNOWN_FIELDS, ServeSettings
    from mlwright.serve import serve as run_service

    with exit_codes():
        if unknown_fields not in UNKNOWN_FIELDS:
            raise SpecError(
                f"--unknown-fields must be one of {', '.join(UNKNOWN_FIELDS)}, got "
                f"{unknown_fields!r}",
                field="--unknown-fields",
            )
        settings = ServeSettings(
            model=model,
            tracking_uri=tracking_uri,
            log=_log_url(log),
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


def _log_url(log: str) -> str | None:
    """The prediction log's URL, None for 'none'; a bad URL fails here, before the server
    starts."""
    from mlwright.serve import log_engine

    if log.lower() == "none":
        return None
    log_engine(log).dispose()
    return log
