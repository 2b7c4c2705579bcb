"""The ``mlwright`` command: a thin dispatcher over the stages and the main job.

Errors from mlwright's hierarchy become a message and the error's exit code, never a
traceback (set MLWRIGHT_DEBUG=1 to see one).

``_app`` holds the Typer app and what the commands share; the commands live in ``_train``
(init, spec, check, run, predict, report), ``_serve`` and ``_monitor`` (monitor, log
replay, feedback, retrain, compare, promote), and what they print in ``_print``. They are
registered here, in the order ``mlwright --help`` lists them.
"""

from __future__ import annotations

import typer

from mlwright.cli._app import app, err, main, out
from mlwright.cli._monitor import compare, feedback, log_replay, monitor, promote, retrain
from mlwright.cli._serve import serve
from mlwright.cli._train import check, init, predict, report, run, spec_command

__all__ = ["app", "err", "main", "out"]

app.command()(init)
app.command("spec")(spec_command)
app.command()(check)
app.command()(run)
app.command()(predict)
app.command()(report)
app.command()(serve)
app.command()(monitor)
app.command()(feedback)
app.command()(retrain)
app.command()(compare)
app.command()(promote)

log_commands = typer.Typer(
    name="log",
    help="The prediction log: write in the answers a service spilled at shutdown.",
    no_args_is_help=True,
)
log_commands.command("replay")(log_replay)
app.add_typer(log_commands)
