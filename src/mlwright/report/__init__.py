"""Reports: the model card (HTML with plots, and its Markdown twin), from a model's evidence;
its page parts (sections, tables, plots) serve the other reports (monitoring)."""

from mlwright.report._card import model_card, write_card
from mlwright.report._page import Card, Plot, Section, Table
from mlwright.report._plots import BAD, BASE, GOOD, MODEL, figure, svg

__all__ = [
    "BAD",
    "BASE",
    "GOOD",
    "MODEL",
    "Card",
    "Plot",
    "Section",
    "Table",
    "figure",
    "model_card",
    "svg",
    "write_card",
]
