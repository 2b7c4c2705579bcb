"""The model card of a recommender, from the evidence its fit and evaluation recorded: the
held-out scores with intervals, popularity and each generator alone beside the model, the
paired differences, what was chosen on validation users and why, and what it cannot do."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mlwright.recommend._evidence import (
    DataSize,
    FitRecord,
    HeldOutEvaluation,
    RankerRecord,
    RankScore,
)
from mlwright.recommend._model import Recommender
from mlwright.report import BASE, MODEL, Card, Section, figure, svg

_PER_USER = ("ndcg", "recall", "map", "mrr")
_NAMES = {"ndcg": "NDCG", "recall": "Recall", "map": "MAP", "mrr": "MRR"}
_PROTOCOLS = {
    "users": "strong generalisation: whole users held out; each one's earliest "
    "interactions are given as history and the latest are the items to find",
    "time": "global time split: the model learns from everything before a cut-off time and "
    "is scored on what users met after it",
}
Scores = Mapping[str, Mapping[str, RankScore]]  # system -> "ndcg@10" -> score


def _value(entry: RankScore | None, digits: int = 4) -> str:
    if entry is None or entry.value is None:
        return "-"
    text = f"{entry.value:.{digits}f}"
    if entry.low is not None and entry.high is not None:
        text += f" [{entry.low:.{digits}f}, {entry.high:.{digits}f}]"
    return text


def _number(value: float | None) -> float:
    """A score to draw or print as a percentage: NaN where none was measured."""
    return math.nan if value is None else value


def _score(scores: Scores, system: str, key: str) -> RankScore | None:
    return scores.get(system, {}).get(key)


def _ndcg_plot(scores: Scores, k: int) -> str:
    names = list(scores)
    fig, ax = figure(6.4, 0.5 + 0.45 * len(names))
    for row, name in enumerate(names):
        entry = scores[name][f"ndcg@{k}"]
        value, low, high = _number(entry.value), _number(entry.low), _number(entry.high)
        colour = MODEL if name == "model" else BASE
        ax.barh(row, value, color=colour)
        ax.errorbar(value, row, xerr=[[value - low], [high - value]], color="#1f2933", capsize=3)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"NDCG@{k} on held-out users (95% interval)")
    return svg(fig)


def _bias_plot(scores: Scores, k: int) -> str:
    fig, ax = figure(6.4, 3.2)
    for name, entry in scores.items():
        x = _number(entry[f"popularity@{k}"].value)
        y = _number(entry[f"ndcg@{k}"].value)
        ax.scatter(x, y, color=MODEL if name == "model" else BASE, s=40)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 3), fontsize=9)
    ax.set_xlabel(f"mean share of training users who met a recommended item (popularity@{k})")
    ax.set_ylabel(f"NDCG@{k}")
    return svg(fig)


def recommender_card(
    model: Recommender,
    *,
    title: str,
    question: str | None = None,
    intended_use: str | None = None,
    out_of_scope: Sequence[str] = (),
    owner: str | None = None,
) -> Card:
    evidence = model.evidence
    evaluation = evidence.evaluation
    k = evaluation.k if evaluation is not None else 10
    scores: Scores = evaluation.scores if evaluation is not None else {}
    users = evaluation.users if evaluation is not None else "?"
    glance = [
        ("Task", question or "recommend items a user will meet next"),
        ("Recommends with", chosen_text(model)),
        (
            f"Held-out NDCG@{k}",
            f"{_value(_score(scores, 'model', f'ndcg@{k}'))}; popularity "
            f"{_value(_score(scores, 'popularity', f'ndcg@{k}'))} ({users} users)",
        ),
        ("Data", _data_text(evidence.data)),
    ]
    sections = [
        _metrics(evaluation, scores, k),
        _choice(evidence.choice, k),
        _details(model),
        _use(intended_use, out_of_scope, owner),
        _caveats(scores, k),
    ]
    return Card(
        title=f"Model card: {title}",
        subtitle="A recommender: candidates from several generators, ordered by a ranker when "
        "it beats each of them alone on validation users.",
        sections=sections,
        glance=glance,
    )


def _data_text(data: DataSize | None) -> str:
    if data is None:
        return "? interactions, ? users, ? items"
    return f"{data.interactions:,} interactions, {data.users:,} users, {data.items:,} items"


def chosen_text(model: Recommender) -> str:
    """What recommends, and why, as the fit measured it: the ranker's comparison with the
    generators on validation users, or why the ranker was not trained."""
    choice = model.evidence.choice
    if model.chosen == "ranker":
        text = f"a LightGBM ranker over candidates from {', '.join(model.generators)}"
    else:
        text = f"the {model.chosen} generator alone"
    if choice is not None and choice.because:
        return f"{text} ({choice.because})"
    # An artifact written before fits said why: only what its record shows.
    if model.chosen == "ranker":
        return text
    if choice is not None and "cv_ndcg" in choice.ranker.model_fields_set:
        return f"{text} (the ranker did not beat it on validation users)"
    return f"{text} (the ranker was not trained)"


def _metrics(evaluation: HeldOutEvaluation | None, scores: Scores, k: int) -> Section:
    section = Section("Held-out evaluation")
    protocol = evaluation.protocol if evaluation is not None else "users"
    section.text(
        f"Protocol: {_PROTOCOLS.get(protocol, protocol)}. Every catalogue item is ranked for "
        "every user (no sampled negatives), with the user's history removed. Intervals are "
        "95% bootstrap intervals over users. The model was fitted on the training users only; "
        "the artifact was then fitted again on every interaction with the same choices."
    )
    header = ["system", *[f"{_NAMES[m]}@{k}" for m in _PER_USER], f"coverage@{k}"]
    header += [f"novelty@{k}", f"popularity@{k}"]
    rows = []
    for name, entry in scores.items():
        rows.append(
            [name]
            + [_value(entry.get(f"{m}@{k}")) for m in _PER_USER]
            + [_value(entry.get(f"{m}@{k}"), 3) for m in ("coverage", "novelty", "popularity")]
        )
    section.table(header, rows)
    differences = evaluation.differences if evaluation is not None else {}
    if differences:
        section.table(
            ["paired difference (NDCG)", "value [95%]", "model better in"],
            [
                [name, _value(d), f"{d.a_better_share:.0%} of resamples"]
                for name, d in differences.items()
            ],
        )
    if scores:
        section.plot(
            f"NDCG@{k} of the model, each generator alone, and popularity",
            lambda: _ndcg_plot(scores, k),
        )
        section.plot(
            "Accuracy against popularity bias: further left recommends less popular items",
            lambda: _bias_plot(scores, k),
        )
    return section


def _choice(choice: FitRecord | None, k: int) -> Section:
    section = Section("How it was chosen (validation users, never the held-out ones)")
    ranker = choice.ranker if choice is not None else RankerRecord()
    section.text(
        "Each training user's latest interactions were held back as targets; the generators "
        "learned from the rest. Generator settings were chosen by NDCG on those users"
        + (
            f"; the ranker was not trained: {ranker.skipped}."
            if ranker.skipped is not None
            else "; the ranker's objective and number of trees by cross-validation over users."
        )
    )
    if choice is None:
        section.table(["generator", "setting chosen", f"validation NDCG@{k}"], [])
        return section
    settings = choice.generators
    section.table(
        ["generator", "setting chosen", f"validation NDCG@{k}"],
        [
            [name, ", ".join(f"{a}={b}" for a, b in settings.get(name, {}).items()), f"{v:.4f}"]
            for name, v in choice.generator_ndcg.items()
        ],
    )
    if ranker.cv_ndcg_by_objective:
        section.table(
            ["ranker objective", f"cross-validated NDCG@{k}"],
            [[name, f"{value:.4f}"] for name, value in ranker.cv_ndcg_by_objective.items()],
        )
        section.text(_chosen_line(choice))
    if choice.skipped:
        section.text("Not done, to keep the time budget:")
        section.table(["step", "why"], [[step, why] for step, why in choice.skipped.items()])
    return section


def _chosen_line(choice: FitRecord) -> str:
    if choice.chosen == "ranker":
        return f"Chosen: the ranker ({choice.ranker.objective}, {choice.ranker.trees} trees)."
    return f"Chosen: {choice.chosen}" + (f": {choice.because}." if choice.because else ".")


def _details(model: Recommender) -> Section:
    section = Section("Model details")
    rows = [[name, g.describe()] for name, g in model.generators.items()]
    section.table(["generator", "parameters"], rows)
    if model.ranker is None:
        scores = (
            "popularity recommends the items most users met"
            if model.chosen == "popularity"
            else f"{model.chosen} scores every catalogue item from the user's history; "
            "popularity answers a user without one"
        )
        section.text(
            f"{scores}. The other generators tried are in the evaluation, not in the model."
        )
        return section
    section.text(
        f"Candidates: the top {model.depth} items of each generator per user. Features: each "
        "generator's score, relative score and rank; item popularity and recent popularity; "
        "how the item's popularity and age compare with the user's history; the user's history "
        "length; item features and the share of the user's history that shares them."
    )
    return section


def _use(intended: str | None, out_of_scope: Sequence[str], owner: str | None) -> Section:
    section = Section("Intended use")
    section.text(intended or "Not stated in the spec ([card] intended_use).")
    if out_of_scope:
        section.text("Not for: " + "; ".join(out_of_scope) + ".")
    if owner:
        section.text(f"Owner: {owner}.")
    return section


def _caveats(scores: Scores, k: int) -> Section:
    section = Section("Caveats")
    section.text(
        "A user with no known history gets recent popularity (cold start); the answer says so.",
        "Items no training user met cannot be recommended; history items the model never saw "
        "are ignored and reported.",
        "Offline NDCG measures how well the model finds what users met next, not what they "
        "would have met had they been shown other items; confirm with an online test.",
    )
    coverage = _score(scores, "model", f"coverage@{k}")
    if coverage is not None and coverage.value is not None:
        popularity = _score(scores, "popularity", f"coverage@{k}")
        baseline = _number(popularity.value) if popularity is not None else math.nan
        section.text(
            f"The model's lists covered {coverage.value:.1%} of the catalogue on the held-out "
            f"users (popularity: {baseline:.1%})."
        )
    return section
