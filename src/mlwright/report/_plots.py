"""The model card's plots: matplotlib figures rendered to inline SVG (no network, no
JavaScript), one function per plot, each taking the typed evidence of a run (``Model.evidence``).

Legends sit above the axes, never over the data; long category labels wrap; axes write
numbers as the card's text does (``_format.tick``)."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from mlwright.artifact import (
    CurvePoint,
    FeatureImportance,
    LadderStep,
    LevelIntervals,
    ReliabilityBin,
    ResidualBin,
    Slice,
    ValuePoint,
)
from mlwright.report._format import number, tick

INK = "#1f2933"
MODEL = "#2563eb"
BASE = "#9aa5b1"
BAD = "#dc2626"
GOOD = "#16a34a"


def figure(width: float = 6.4, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: crisp, searchable, small
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": INK,
            "axes.labelcolor": INK,
            "xtick.color": INK,
            "ytick.color": INK,
            "svg.hashsalt": "mlwright",  # the same figure gives the same SVG
        }
    )
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.StringIO()
    # "tight" grows the canvas to whatever is drawn outside the axes (a legend above them,
    # long tick labels), so nothing is cut at the edge.
    fig.savefig(
        buffer,
        format="svg",
        bbox_inches="tight",
        pad_inches=0.08,
        metadata={"Date": None, "Creator": None},
    )
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def legend_above(ax: Any) -> None:
    """The legend in one row above the axes, where it covers no data."""
    _, labels = ax.get_legend_handles_labels()
    ax.legend(
        frameon=False,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.02),
        ncol=max(1, len(labels)),
        borderaxespad=0.0,
        handletextpad=0.4,
        columnspacing=1.2,
    )


def numbers_on(axis: Any) -> None:
    """Tick labels written like the card's numbers (12,500 rather than 1.25e4)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(tick))


def wrap(label: str, width: int = 34) -> str:
    """A long label on several lines: each condition of a slice ('a and b') on a line of its
    own, and no line longer than ``width`` characters."""
    lines: list[str] = []
    for i, part in enumerate(label.split(" and ")):
        text = f"and {part}" if i else part
        lines += textwrap.wrap(text, width) or [text]
    return "\n".join(lines)


def reliability(before: Sequence[ReliabilityBin], after: Sequence[ReliabilityBin] | None) -> str:
    """Predicted probability against observed frequency, per bin; the diagonal is perfect."""
    fig, ax = figure(4.8, 4.0)
    ax.plot([0, 1], [0, 1], color=BASE, linestyle="--", linewidth=1, label="perfectly calibrated")
    series = [("as trained", before, BASE if after else MODEL)]
    if after:
        series.append(("calibrated", after, MODEL))
    for label, bins, colour in series:
        xs = [b.predicted for b in bins]
        ys = [b.observed for b in bins]
        most = max([1, *(c.rows for c in bins)])
        sizes = [20 + 180 * b.rows / most for b in bins]
        ax.plot(xs, ys, color=colour, linewidth=1.5, label=label)
        ax.scatter(xs, ys, s=sizes, color=colour, alpha=0.7, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    legend_above(ax)
    return svg(fig)


def value_curve(
    curve: Sequence[ValuePoint], threshold: float, currency: str = "value units"
) -> str:
    """Value per 1,000 decisions against the threshold, the chosen one marked."""
    fig, ax = figure()
    xs = [c.threshold for c in curve]
    ys = [c.value_per_1000 for c in curve]
    ax.plot(xs, ys, color=MODEL, linewidth=1.8, label="value of acting above the threshold")
    ax.axvline(
        threshold,
        color=GOOD,
        linewidth=1.2,
        linestyle="--",
        label=f"chosen threshold {number(threshold)}",
    )
    ax.axhline(0, color=BASE, linewidth=0.8)
    legend_above(ax)
    ax.set_xlabel("decision threshold (act when probability >= threshold)")
    ax.set_ylabel(f"value per 1,000 decisions\n(holdout, {currency})")
    numbers_on(ax.yaxis)
    return svg(fig)


def confusion(classes: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """Counts of true class (rows) against predicted class (columns)."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.6 * len(classes)
    fig, ax = figure(size + 1.2, size)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                number(int(counts[i, j])),
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else INK,
            )
    names = [wrap(str(c), 20) for c in classes]
    ax.set_xticks(range(len(classes)), labels=names, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.spines[:].set_visible(False)
    return svg(fig)


def residuals(bins: Sequence[ResidualBin]) -> str:
    """Mean residual (truth - prediction) per bin of the predicted value, with its 95%
    interval, and the mean absolute error."""
    fig, ax = figure()
    mids = [(b.low + b.high) / 2 for b in bins]
    means = [b.mean_residual for b in bins]
    low = [b.mean_residual - b.mean_residual_low for b in bins]
    high = [b.mean_residual_high - b.mean_residual for b in bins]
    ax.errorbar(
        mids, means, yerr=[low, high], fmt="o", color=MODEL, capsize=3, label="mean residual"
    )
    ax.plot(
        mids,
        [b.mae for b in bins],
        color=BASE,
        marker="s",
        linewidth=1,
        label="mean absolute error",
    )
    ax.axhline(0, color=INK, linewidth=0.8)
    ax.set_xlabel("predicted value (bin middle)")
    ax.set_ylabel("truth - prediction")
    numbers_on(ax.xaxis)
    numbers_on(ax.yaxis)
    legend_above(ax)
    return svg(fig)


def importance(features: Sequence[FeatureImportance], top: int = 15) -> str:
    """The inputs that matter most, largest at the top."""
    shown = list(features[:top])[::-1]
    names = [wrap(f.name, 30) for f in shown]
    lines = sum(name.count("\n") + 1 for name in names)
    fig, ax = figure(6.4, 0.8 + 0.2 * lines + 0.08 * len(shown))
    ax.barh(names, [f.importance for f in shown], color=MODEL)
    ax.set_xlabel("importance")
    numbers_on(ax.xaxis)
    return svg(fig)


def coverage(levels: Mapping[str, LevelIntervals]) -> str:
    """Holdout coverage of each prediction-interval level, with its 95% interval, against
    the level promised. The axis starts at 0, so a bar's height is its coverage."""
    fig, ax = figure(4.8, 3.2)
    names = sorted(levels, key=float)
    xs = range(len(names))
    covered = [levels[n].holdout_coverage for n in names]
    values = [c.value for c in covered]
    err = [[c.value - c.low for c in covered], [c.high - c.value for c in covered]]
    ax.bar(xs, values, color=MODEL, width=0.5, yerr=err, capsize=4, label="holdout coverage")
    ax.scatter(
        xs, [float(n) for n in names], color=GOOD, marker="_", s=600, zorder=3, label="promised"
    )
    ax.set_xticks(list(xs), labels=[f"{float(n):.0%} interval" for n in names])
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("share of holdout rows inside")
    legend_above(ax)
    return svg(fig)


def slices(found: Sequence[Slice]) -> str:
    """Loss in each reported slice against the rest of the rows; every label whole, wrapped
    onto as many lines as it needs."""
    shown = list(found)[::-1]
    labels = [wrap(s.slice) for s in shown]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig, ax = figure(6.4, 1.0 + 0.2 * lines + 0.12 * len(shown))
    positions = list(range(len(shown)))
    ax.barh(positions, [s.loss for s in shown], color=BAD, label="in the slice")
    ax.scatter(
        [s.rest_loss for s in shown],
        positions,
        color=INK,
        marker="|",
        s=200,
        zorder=3,
        label="rest of the rows",
    )
    ax.set_yticks(positions, labels=labels)
    ax.set_xlabel("mean loss per row")
    numbers_on(ax.xaxis)
    legend_above(ax)
    return svg(fig)


def ladder(steps: Sequence[LadderStep], metric: str) -> str:
    """Each step up in complexity: its holdout score with the 95% interval. Green: the step
    the holdout recommends; outlined: the last step, the model as shipped."""
    from matplotlib.patches import Patch

    fig, ax = figure(6.4, 3.4)
    values = [s.score.value for s in steps]
    err = [
        [s.score.value - s.score.low for s in steps],
        [s.score.high - s.score.value for s in steps],
    ]
    colours = [GOOD if s.recommended else MODEL for s in steps]
    bars = ax.bar(range(len(steps)), values, yerr=err, color=colours, capsize=4, width=0.55)
    bars[-1].set_edgecolor(INK)
    bars[-1].set_linewidth(2.0)
    names = [
        wrap(s.name, 14)
        + ("\n(recommended)" if s.recommended else "")
        + ("\n(shipped)" if i == len(steps) - 1 else "")
        for i, s in enumerate(steps)
    ]
    ax.set_xticks(range(len(steps)), labels=names)
    ax.set_ylabel(f"holdout {metric}")
    numbers_on(ax.yaxis)
    lows = [s.score.low for s in steps]
    highs = [s.score.high for s in steps]
    span = max(highs) - min(lows) or abs(max(highs)) or 1.0
    ax.set_ylim(min(lows) - 0.15 * span, max(highs) + 0.15 * span)
    ax.legend(
        handles=[
            Patch(color=GOOD, label="recommended by the holdout"),
            Patch(facecolor="white", edgecolor=INK, linewidth=2.0, label="shipped"),
        ],
        frameon=False,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.02),
        ncol=2,
        borderaxespad=0.0,
    )
    return svg(fig)


def learning_curve(points: Sequence[CurvePoint], metric: str) -> str:
    """Cross-validated score against the number of training rows."""
    from matplotlib.ticker import NullLocator

    fig, ax = figure()
    rows = [p.rows for p in points]
    values = [p.score for p in points]
    spread = [p.std for p in points]
    ax.errorbar(rows, values, yerr=spread, color=MODEL, marker="o", capsize=3)
    ax.set_xscale("log")
    ax.set_xticks(rows, labels=[number(r) for r in rows])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("training rows")
    ax.set_ylabel(f"cross-validated {metric}")
    numbers_on(ax.yaxis)
    return svg(fig)
