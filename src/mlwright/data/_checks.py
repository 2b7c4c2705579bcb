"""Data checks: types, quality, target problems, leakage suspects and time order.

Each check is a named function ``(CheckContext) -> list[Finding]``; every finding carries a
severity, its evidence as numbers, and the action to take. A blocking finding stops
training unless the spec lists it under ``checks.allow``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mlwright.data._schema import Schema
from mlwright.data._splits import cut_at
from mlwright.errors import DataCheckError
from mlwright.spec import ProblemType, TaskSpec

Severity = Literal["info", "warning", "blocking"]
SEVERITY_ORDER: dict[str, int] = {"blocking": 0, "warning": 1, "info": 2}

# Thresholds, named so that the evidence and the docs can cite them.
LEAK_BLOCK = 0.99  # AUC / balanced accuracy / R² of target ranks, of one feature alone
LEAK_WARN = 0.95
ID_SIGNAL = 0.10  # identifier's score above chance (AUC 0.5, 1/k, R² 0) worth a warning
MIN_ROWS_BLOCK = 20
MIN_ROWS_WARN = 200
RARE_CLASS_BLOCK = 3
RARE_CLASS_WARN = 10
IMBALANCE_WARN = 0.05
MISSING_WARN = 0.5
HIGH_CARDINALITY = 100
LEAK_SAMPLE_ROWS = 20_000
TREND_ERROR = 0.5  # time order: a column's line must leave at most this share of time's error


@dataclass(frozen=True)
class Finding:
    """One thing the checks found: what, how sure (evidence), how bad, and what to do."""

    code: str
    severity: Severity
    message: str
    action: str
    column: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What ``checks.allow`` matches: ``code:column`` (or ``code`` alone for all columns)."""
        return f"{self.code}:{self.column}" if self.column else self.code

    def allowed_by(self, allow: list[str]) -> bool:
        return self.code in allow or self.key in allow

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckReport:
    """The schema and every finding, most severe first."""

    schema: Schema
    findings: list[Finding]
    allow: list[str]

    @property
    def blocking(self) -> list[Finding]:
        return [
            f for f in self.findings if f.severity == "blocking" and not f.allowed_by(self.allow)
        ]

    def raise_if_blocking(self) -> None:
        blocking = self.blocking
        if not blocking:
            return
        lines = [f"  - [{f.key}] {f.message}\n    action: {f.action}" for f in blocking]
        raise DataCheckError(
            f"{len(blocking)} blocking data-check finding(s) stop training:\n" + "\n".join(lines),
            findings=list(blocking),
            field=blocking[0].column,
            hint="fix the data, or accept a finding with checks.allow = ['"
            + blocking[0].key
            + "'] in the spec",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "blocking": [f.key for f in self.blocking],
        }


@dataclass
class CheckContext:
    frame: pl.DataFrame
    spec: TaskSpec
    schema: Schema
    problem_type: ProblemType
    target: pl.Series  # rows with a target
    labelled: pl.DataFrame  # the frame restricted to rows with a target


# -- table-level checks ------------------------------------------------------------------------


def check_row_count(ctx: CheckContext) -> list[Finding]:
    n = ctx.labelled.height
    if n < MIN_ROWS_BLOCK:
        return [
            Finding(
                "data.too_few_rows",
                "blocking",
                f"only {n} labelled rows: too few to train and validate a model",
                "collect more labelled rows",
                evidence={"rows": n, "minimum": MIN_ROWS_BLOCK},
            )
        ]
    if n < MIN_ROWS_WARN:
        return [
            Finding(
                "data.few_rows",
                "warning",
                f"only {n} labelled rows: scores will have wide intervals",
                "collect more labelled rows if you can; read scores with their intervals",
                evidence={"rows": n, "recommended": MIN_ROWS_WARN},
            )
        ]
    return []


def identifier_columns(schema: Schema) -> list[str]:
    """The id column and the columns read as row identifiers: distinct per row by nature,
    so two copies of one record differ there and nowhere else."""
    return [c.name for c in schema.columns if c.role == "id" or c.kind == "identifier"]


def check_duplicate_rows(ctx: CheckContext) -> list[Finding]:
    ignored = identifier_columns(ctx.schema)
    frame = ctx.labelled.drop(ignored)
    extra = frame.height - frame.unique().height if frame.width else 0
    findings = []
    if extra:
        share = extra / frame.height
        without = ", ".join(f"'{c}'" for c in ignored)
        evidence: dict[str, Any] = {
            "duplicate_rows": extra,
            "share": round(share, 4),
            "rows_in_groups": int(frame.is_duplicated().sum()),
        }
        if ignored:
            evidence["ignored_columns"] = ignored
        findings.append(
            Finding(
                "rows.duplicate",
                "warning" if share > 0.01 else "info",
                f"{extra} rows ({share:.1%}) repeat an earlier row exactly"
                + (f" (identifier columns {without} not compared)" if ignored else ""),
                "drop duplicates if they are recording errors; if they are real repeats, use a "
                "group column so that copies do not land in both train and test",
                evidence=evidence,
            )
        )
    features = [c.name for c in ctx.schema.features]
    if features:
        by_features = frame.group_by(features).agg(pl.col(ctx.spec.task.target).n_unique())
        conflicts = int((by_features[ctx.spec.task.target] > 1).sum())
        if conflicts:
            findings.append(
                Finding(
                    "rows.conflicting",
                    "info",
                    f"{conflicts} sets of identical feature values carry different targets",
                    "expected with noisy labels; if unexpected, a column that explains the "
                    "difference is missing",
                    evidence={"conflicting_groups": conflicts},
                )
            )
    return findings


def check_duplicate_columns(ctx: CheckContext) -> list[Finding]:
    findings = []
    names = [c.name for c in ctx.schema.columns if c.role in ("feature", "excluded")]
    seen: dict[tuple[str, int], str] = {}
    for name in names:
        series = ctx.frame[name]
        key = (str(series.dtype), int(series.hash(seed=0).sum()))
        twin = seen.get(key)
        if twin is not None and series.equals(ctx.frame[twin], check_names=False, null_equal=True):
            findings.append(
                Finding(
                    "columns.duplicate",
                    "warning",
                    f"column '{name}' is an exact copy of '{twin}'",
                    f"drop one of them (add '{name}' to task.ignore)",
                    column=name,
                    evidence={"copy_of": twin},
                )
            )
        else:
            seen.setdefault(key, name)
    return findings


# -- column checks -----------------------------------------------------------------------------


def check_column_kinds(ctx: CheckContext) -> list[Finding]:
    findings = []
    for col in ctx.schema.columns:
        if col.role != "excluded" and col.kind not in ("text",):
            continue
        if col.kind == "constant":
            findings.append(
                Finding(
                    "column.constant",
                    "info",
                    f"column '{col.name}' is constant ({col.reason}); not used",
                    "nothing to do; drop it from the data if it is never informative",
                    column=col.name,
                    evidence={"distinct": col.n_unique, "missing_rate": round(col.missing_rate, 4)},
                )
            )
        elif col.kind == "identifier":
            findings.append(
                Finding(
                    "column.identifier",
                    "info",
                    f"column '{col.name}' looks like a row identifier ({col.reason}); not used",
                    f"set task.id = '{col.name}' to keep it in outputs, or task.ignore it",
                    column=col.name,
                    evidence={"distinct": col.n_unique, "rows": ctx.schema.n_rows},
                )
            )
        elif col.kind == "unsupported":
            findings.append(
                Finding(
                    "column.unsupported",
                    "warning",
                    f"column '{col.name}': {col.reason}; not used",
                    "convert it to numbers, text or timestamps if it matters",
                    column=col.name,
                )
            )
        elif col.kind == "text" and col.role == "feature":
            findings.append(
                Finding(
                    "column.text",
                    "info",
                    f"column '{col.name}' is free text ({col.reason}); used as hashed "
                    "TF-IDF (and a sentence embedding where it predicts the target)",
                    "nothing to do; if it is a category with many values, it is treated as text",
                    column=col.name,
                    evidence={"distinct": col.n_unique},
                )
            )
    return findings


def check_missing(ctx: CheckContext) -> list[Finding]:
    findings = []
    for col in ctx.schema.features:
        if col.missing_rate > MISSING_WARN:
            findings.append(
                Finding(
                    "column.mostly_missing",
                    "warning",
                    f"column '{col.name}' is missing in {col.missing_rate:.0%} of rows",
                    "check how it is collected; missingness is kept as a signal, but values "
                    "seen at prediction time must be missing for the same reasons",
                    column=col.name,
                    evidence={"missing": col.missing, "missing_rate": round(col.missing_rate, 4)},
                )
            )
    some = [c for c in ctx.schema.features if 0 < c.missing_rate <= MISSING_WARN]
    if some:
        findings.append(
            Finding(
                "columns.missing",
                "info",
                f"{len(some)} feature column(s) have missing values (imputed, with indicators)",
                "nothing to do unless the rates are unexpected",
                evidence={c.name: round(c.missing_rate, 4) for c in some},
            )
        )
    return findings


def check_high_cardinality(ctx: CheckContext) -> list[Finding]:
    findings = []
    for col in ctx.schema.features:
        if col.kind == "categorical" and col.n_unique > HIGH_CARDINALITY:
            findings.append(
                Finding(
                    "column.high_cardinality",
                    "warning",
                    f"categorical column '{col.name}' has {col.n_unique} distinct values",
                    "rare values are pooled and linear models use target encoding; consider "
                    "grouping values into fewer meaningful categories",
                    column=col.name,
                    evidence={"distinct": col.n_unique, "threshold": HIGH_CARDINALITY},
                )
            )
    return findings


# -- target checks -----------------------------------------------------------------------------


def check_target(ctx: CheckContext) -> list[Finding]:
    findings = []
    target_name = ctx.spec.task.target
    missing = ctx.frame.height - ctx.labelled.height
    if missing:
        findings.append(
            Finding(
                "target.missing",
                "warning",
                f"{missing} rows ({missing / ctx.frame.height:.1%}) have no target value; "
                "they are left out of training",
                "fill in the labels, or keep them aside to score after training",
                column=target_name,
                evidence={"rows": missing, "share": round(missing / ctx.frame.height, 4)},
            )
        )
    if ctx.problem_type == "regression":
        return findings
    counts = ctx.target.cast(pl.String).value_counts(sort=True)
    total = ctx.target.len()
    per_class = {str(k): int(n) for k, n in counts.iter_rows()}
    smallest_class, smallest = min(per_class.items(), key=lambda kv: kv[1])
    if smallest < RARE_CLASS_BLOCK:
        findings.append(
            Finding(
                "target.rare_class",
                "blocking",
                f"class {smallest_class!r} has only {smallest} row(s): it cannot be both learned "
                "and validated",
                "merge it into a related class, drop its rows, or collect more examples",
                column=target_name,
                evidence={"class": smallest_class, "rows": smallest, "minimum": RARE_CLASS_BLOCK},
            )
        )
    elif smallest < RARE_CLASS_WARN:
        findings.append(
            Finding(
                "target.rare_class",
                "warning",
                f"class {smallest_class!r} has only {smallest} rows: its scores will be unreliable",
                "collect more examples of it, or merge it into a related class",
                column=target_name,
                evidence={"class": smallest_class, "rows": smallest},
            )
        )
    share = smallest / total
    if share < IMBALANCE_WARN:
        findings.append(
            Finding(
                "target.imbalance",
                "warning",
                f"class {smallest_class!r} is {share:.2%} of rows ({smallest} of {total})",
                "judge the model by roc_auc or average_precision rather than accuracy, and "
                "choose the decision threshold from business values ([value])",
                column=target_name,
                evidence={"class": smallest_class, "share": round(share, 5), "rows": smallest},
            )
        )
    return findings


# -- leakage -----------------------------------------------------------------------------------


def _target_codes(target: pl.Series, problem_type: ProblemType) -> np.ndarray:
    if problem_type == "regression":
        # Ranks, so that a copy of a skewed target (prices, counts) scores near 1 too: a tree
        # with few leaves cannot follow a long tail, and R² on raw values would miss the leak.
        return target.cast(pl.Float64).rank("average").to_numpy() / target.len()
    labels = target.cast(pl.String)
    classes = sorted(labels.unique().to_list())
    return labels.replace_strict(
        {c: i for i, c in enumerate(classes)}, return_dtype=pl.Int64
    ).to_numpy()


def _as_number(series: pl.Series) -> np.ndarray | None:
    dtype = series.dtype
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        values = series.dt.epoch("s").cast(pl.Float64)
    elif dtype.is_numeric() or dtype == pl.Boolean:
        values = series.cast(pl.Float64)
    else:
        return None
    x = values.fill_null(np.nan).to_numpy().astype(np.float64)
    finite = np.isfinite(x)
    # Missingness may itself leak: give it its own value below the range.
    x[~finite] = (x[finite].min() - 1.0) if finite.any() else 0.0
    return x


def _halves(n: int, seed: int, times: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, scored rows) masks: two random halves, each scored by the other; or, given
    the rows' times, the earlier half fitted and the later half scored, as time validation
    does (ties in time never straddle the cut). Random halves when no cut is possible."""
    if times is not None:
        order = np.argsort(times, kind="stable")
        cut = cut_at(times[order], n // 2)
        if 0 < cut < n:
            earlier = np.zeros(n, dtype=bool)
            earlier[order[:cut]] = True
            return [(earlier, ~earlier)]
    half = np.random.default_rng(seed).permutation(n) < n // 2
    return [(half, ~half), (~half, half)]


def _line_errors(x: np.ndarray, raw: np.ndarray, fit_rows: np.ndarray) -> float:
    """Squared error on the scored rows of a straight line fitted on the others."""
    if np.ptp(x[fit_rows]) == 0:
        return np.inf
    slope, intercept = np.polyfit(x[fit_rows], raw[fit_rows], 1)
    eval_rows = ~fit_rows
    return float(np.sum((raw[eval_rows] - intercept - slope * x[eval_rows]) ** 2))


def _line_r2(x: np.ndarray, raw: np.ndarray, times: np.ndarray, fit_rows: np.ndarray) -> float:
    """R² on the later rows of a straight line in the column fitted on the earlier rows, when
    that line leaves at most TREND_ERROR of the squared error that a line in time leaves.
    A copy of a target that trends beyond the range a tree saw is followed by a line; a
    column that only trends with time (a population) does no better than time itself."""
    later = raw[~fit_rows]
    total = float(np.sum((later - later.mean()) ** 2))
    errors = _line_errors(x, raw, fit_rows)
    if total == 0.0 or errors > TREND_ERROR * _line_errors(times, raw, fit_rows):
        return -np.inf
    return 1.0 - errors / total


def univariate_score(
    series: pl.Series,
    y: np.ndarray,
    problem_type: ProblemType,
    seed: int,
    *,
    times: np.ndarray | None = None,
    raw: np.ndarray | None = None,
) -> float | None:
    """How well one column alone predicts the target out of sample: ROC AUC (binary,
    direction-free), balanced accuracy (multiclass) or R² (regression). None if not scorable.

    Without ``times``, 2-fold over random halves. With ``times`` (the rows' time order), fitted
    on the earlier half and scored on the later one: a column that merely trends with time
    (a population, a price level) predicts neighbouring rows of a random half, but not the
    future. For regression, ``raw`` (the target's values) also scores a straight line on
    the later half, so that a copy of a target that trends beyond the earlier range is
    still caught."""
    n = len(y)
    halves = _halves(n, seed, times)
    scored = np.zeros(n, dtype=bool)
    x = _as_number(series)
    pred = np.zeros((n, int(y.max()) + 1)) if problem_type == "multiclass" else np.zeros(n)
    for fit_rows, eval_rows in halves:
        scored |= eval_rows
        if x is not None:
            model: DecisionTreeClassifier | DecisionTreeRegressor
            if problem_type == "regression":
                model = DecisionTreeRegressor(max_leaf_nodes=32, min_samples_leaf=5, random_state=0)
                model.fit(x[fit_rows, None], y[fit_rows])
                pred[eval_rows] = model.predict(x[eval_rows, None])
            else:
                model = DecisionTreeClassifier(
                    max_leaf_nodes=32, min_samples_leaf=5, random_state=0
                )
                model.fit(x[fit_rows, None], y[fit_rows])
                proba = model.predict_proba(x[eval_rows, None])
                if problem_type == "binary":
                    pos = list(model.classes_).index(1) if 1 in model.classes_ else None
                    pred[eval_rows] = proba[:, pos] if pos is not None else 0.0
                else:
                    full = np.zeros((int(eval_rows.sum()), int(y.max()) + 1))
                    full[:, model.classes_.astype(int)] = proba
                    pred[eval_rows] = full
        else:
            keys = series.cast(pl.String).fill_null("\x00missing").to_numpy()
            pred[eval_rows] = _lookup(
                keys[fit_rows], y[fit_rows], keys[eval_rows], problem_type, pred.shape
            )
    y, pred = y[scored], pred[scored]
    if problem_type == "binary":
        if len(np.unique(y)) < 2:
            return None
        auc = float(roc_auc_score(y, pred))
        return max(auc, 1.0 - auc)
    if problem_type == "multiclass":
        return float(balanced_accuracy_score(y, pred.argmax(axis=1)))
    score = float(r2_score(y, pred))
    in_time_order = len(halves) == 1
    if in_time_order and times is not None and x is not None and raw is not None:
        score = max(score, _line_r2(x, raw, times, halves[0][0]))
    return score


def _lookup(
    fit_keys: np.ndarray,
    fit_y: np.ndarray,
    eval_keys: np.ndarray,
    problem_type: ProblemType,
    shape: tuple[int, ...],
) -> np.ndarray:
    """Predict each key's mean target (or class shares) as seen in the fitting half."""
    if problem_type == "multiclass":
        k = shape[1]
        targets = np.eye(k)[fit_y.astype(int)]
    else:
        targets = fit_y.astype(np.float64).reshape(-1, 1)
    prior = targets.mean(axis=0)
    uniq, inverse = np.unique(fit_keys, return_inverse=True)
    sums = np.zeros((len(uniq), targets.shape[1]))
    np.add.at(sums, inverse, targets)
    means = sums / np.bincount(inverse, minlength=len(uniq))[:, None]
    index = {key: i for i, key in enumerate(uniq.tolist())}
    out = np.array([means[index[k]] if k in index else prior for k in eval_keys.tolist()])
    return out if problem_type == "multiclass" else out[:, 0]


@dataclass(frozen=True)
class LeakSample:
    """The rows the leakage checks score on: target codes, the target's values (regression)
    and the rows' times when the task has a usable time column."""

    frame: pl.DataFrame
    y: np.ndarray
    raw: np.ndarray | None
    times: np.ndarray | None

    def score(self, series: pl.Series, problem_type: ProblemType, seed: int) -> float | None:
        return univariate_score(series, self.y, problem_type, seed, times=self.times, raw=self.raw)


def _leak_sample(ctx: CheckContext) -> LeakSample:
    frame = ctx.labelled
    if frame.height > LEAK_SAMPLE_ROWS:
        frame = frame.sample(LEAK_SAMPLE_ROWS, seed=ctx.spec.seed)
    target = frame[ctx.spec.task.target]
    raw = target.cast(pl.Float64).to_numpy() if ctx.problem_type == "regression" else None
    return LeakSample(frame, _target_codes(target, ctx.problem_type), raw, _times(ctx, frame))


def _times(ctx: CheckContext, frame: pl.DataFrame) -> np.ndarray | None:
    """The time column as numbers, when it is temporal and complete (else check_time
    reports it, and the leakage checks use random halves)."""
    name = ctx.spec.task.time
    if not name:
        return None
    series = frame[name]
    if not (
        series.dtype == pl.Date
        or isinstance(series.dtype, pl.Datetime)
        or series.dtype.is_numeric()
    ):
        return None
    values = series.to_physical().cast(pl.Float64)
    if values.null_count() or values.is_nan().any():
        return None
    return values.to_numpy()


def check_single_feature_leakage(ctx: CheckContext) -> list[Finding]:
    sample = _leak_sample(ctx)
    measure = {"binary": "ROC AUC", "multiclass": "balanced accuracy", "regression": "R² of ranks"}[
        ctx.problem_type
    ]
    if sample.times is not None and ctx.problem_type == "regression":
        measure = "R² of ranks or of a straight line"
    split = (
        f" (fitted on the earlier half by '{ctx.spec.task.time}', scored on the later half)"
        if sample.times is not None
        else ""
    )
    findings = []
    for col in ctx.schema.features:
        if col.kind == "text":
            continue
        score = sample.score(sample.frame[col.name], ctx.problem_type, ctx.spec.seed)
        if score is None or score < LEAK_WARN:
            continue
        blocking = score >= LEAK_BLOCK
        findings.append(
            Finding(
                "leakage.single_feature",
                "blocking" if blocking else "warning",
                f"column '{col.name}' alone predicts the target with {measure} {score:.3f}"
                + split
                + (": it is probably derived from the target" if blocking else ""),
                f"check that '{col.name}' is known before the outcome at prediction time; "
                f"if not, add it to task.ignore; if it is, accept it with "
                f"checks.allow = ['leakage.single_feature:{col.name}']",
                column=col.name,
                evidence=_split_evidence(
                    {"score": round(score, 4), "measure": measure, "rows": len(sample.y)}, sample
                ),
            )
        )
    return findings


def _split_evidence(evidence: dict[str, Any], sample: LeakSample) -> dict[str, Any]:
    if sample.times is not None:
        evidence["split"] = "time order: earlier half fitted, later half scored"
    return evidence


def check_identifier_leakage(ctx: CheckContext) -> list[Finding]:
    sample = _leak_sample(ctx)
    frame, y = sample.frame, sample.y
    findings = []
    candidates = [c for c in ctx.schema.columns if c.kind == "identifier" or (c.role == "id")]
    for col in candidates:
        if _as_number(frame[col.name]) is None:
            continue  # distinct strings carry no order to learn from
        # Trees only: numbers that follow time extrapolate along a trend, which is no sign
        # of rows numbered by outcome.
        score = univariate_score(
            frame[col.name], y, ctx.problem_type, ctx.spec.seed, times=sample.times
        )
        if score is None:
            continue
        chance = {"binary": 0.5, "multiclass": 1.0 / max(int(y.max()) + 1, 2), "regression": 0.0}
        baseline = chance[ctx.problem_type]
        if score - baseline < ID_SIGNAL:
            continue
        findings.append(
            Finding(
                "leakage.identifier",
                "warning",
                f"identifier column '{col.name}' predicts the target (score {score:.3f} vs "
                f"{baseline:.3f} by chance): rows are ordered or numbered by outcome",
                "it is not used as a feature; but check how the data was assembled, since "
                "anything else that follows row order can leak the same way",
                column=col.name,
                evidence=_split_evidence(
                    {"score": round(score, 4), "chance": round(baseline, 4)}, sample
                ),
            )
        )
    return findings


def _is_date(series: pl.Series) -> bool:
    return series.dtype == pl.Date or isinstance(series.dtype, pl.Datetime)


def _time_order_findings(series: pl.Series, time_col: str) -> list[Finding]:
    """Rows without a time (blocking) and steps back in time (information only)."""
    findings = []
    present = series.drop_nulls()
    if series.dtype.is_float():
        present = present.filter(present.is_not_nan())  # NaN is as missing as null
    missing = series.len() - present.len()
    if missing:
        findings.append(
            Finding(
                "time.missing",
                "blocking",
                f"time column '{time_col}' is missing in {missing} rows",
                "fill in the timestamps or drop those rows; rows without a time cannot be "
                "placed in past or future",
                column=time_col,
                evidence={"rows": missing},
            )
        )
    backwards = int((present.to_physical().diff().drop_nulls() < 0).sum())
    if backwards:
        findings.append(
            Finding(
                "time.unsorted",
                "info",
                f"rows are not in time order ({backwards} steps go back in time); mlwright sorts "
                "them before splitting",
                "nothing to do",
                column=time_col,
                evidence={"backward_steps": backwards},
            )
        )
    return findings


def _after_time_findings(ctx: CheckContext, series: pl.Series, time_col: str) -> list[Finding]:
    """Date features that are mostly later than the row's time: recorded after the outcome?"""
    findings = []
    reference = series.cast(pl.Datetime("us")).dt.epoch("us")
    for col in ctx.schema.features:
        if col.kind != "datetime":
            continue
        other = ctx.frame[col.name]
        if not _is_date(other):
            continue
        other_us = other.cast(pl.Datetime("us")).dt.epoch("us")
        both = reference.is_not_null() & other_us.is_not_null()
        n_both = int(both.sum())
        if n_both == 0:
            continue
        later = int(((other_us > reference) & both).sum())
        share = later / n_both
        if share >= 0.5:
            findings.append(
                Finding(
                    "leakage.after_time",
                    "warning",
                    f"column '{col.name}' is later than the time column '{time_col}' in "
                    f"{share:.0%} of rows: it may be recorded after the outcome",
                    f"if '{col.name}' is not known at prediction time, add it to task.ignore",
                    column=col.name,
                    evidence={
                        "rows_later": later,
                        "rows_compared": n_both,
                        "share": round(share, 4),
                    },
                )
            )
    return findings


def check_time(ctx: CheckContext) -> list[Finding]:
    time_col = ctx.spec.task.time
    if not time_col:
        return []
    series = ctx.frame[time_col]
    if not (_is_date(series) or series.dtype.is_numeric()):
        return [
            Finding(
                "time.not_temporal",
                "blocking",
                f"time column '{time_col}' has type {series.dtype}, not dates or numbers",
                "store it as ISO 8601 dates/timestamps or as numbers that increase with time",
                column=time_col,
            )
        ]
    findings = _time_order_findings(series, time_col)
    if _is_date(series):
        findings += _after_time_findings(ctx, series, time_col)
    return findings


CHECKS: tuple[Callable[[CheckContext], list[Finding]], ...] = (
    check_row_count,
    check_target,
    check_duplicate_rows,
    check_duplicate_columns,
    check_column_kinds,
    check_missing,
    check_high_cardinality,
    check_single_feature_leakage,
    check_identifier_leakage,
    check_time,
)


def labelled_rows(frame: pl.DataFrame, target: str) -> pl.DataFrame:
    """The rows that have a target value (not null, not NaN)."""
    series = frame[target]
    keep = series.is_not_null()
    if series.dtype.is_float():
        keep = keep & series.is_not_nan()
    return frame.filter(keep)


def run_checks(frame: pl.DataFrame, spec: TaskSpec, schema: Schema) -> CheckReport:
    """Run every check on ``frame`` under a resolved ``spec``."""
    problem_type = spec.resolved_problem_type
    target_name = spec.task.target
    labelled = labelled_rows(frame, target_name)
    ctx = CheckContext(
        frame=frame,
        spec=spec,
        schema=schema,
        problem_type=problem_type,
        target=labelled[target_name],
        labelled=labelled,
    )
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(ctx))
    findings.sort(key=lambda f: SEVERITY_ORDER[f.severity])
    return CheckReport(schema=schema, findings=findings, allow=list(spec.checks.allow))
