"""The package stage's pieces: where an artifact goes, and the card files it holds."""

from __future__ import annotations

from pathlib import Path

from mlwright.report import Card
from mlwright.spec import TaskSpec, safe_name

# The model card's files inside an artifact written by `mlwright run`.
CARD_HTML = "model_card.html"
CARD_MARKDOWN = "model_card.md"


def card_documents(card: Card) -> dict[str, str]:
    """The model card's two files, as an artifact holds them."""
    return {CARD_HTML: card.to_html(), CARD_MARKDOWN: card.to_markdown()}


def default_out_dir(spec: TaskSpec) -> Path:
    """``output.dir`` of the spec, else ``models/<task name>`` under the working folder."""
    if spec.output.dir:
        return spec.resolve_path(spec.output.dir)
    return Path.cwd() / "models" / safe_name(spec.task_name)  # "../x" stays under models/
