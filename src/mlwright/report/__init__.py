"""Reports: the model card (HTML with plots, and its Markdown twin), from a model's evidence."""

from mlwright.report._card import Card, model_card, write_card

__all__ = ["Card", "model_card", "write_card"]
