"""FeaturePlan: the fitted, JSON-serialisable recipe that turns input columns into a float matrix.

One plan per feature style: ``"tree"`` keeps missing values as NaN and categories as native
codes (gradient boosting splits on them directly); ``"linear"`` imputes, standardises and
one-hot or target encodes; ``"engineered"`` is the tree plan's outputs, unchanged and in
the same order, followed by engineered ones (see ``FeaturePlan._fit_engineered``). A plan
runs batch (``transform``) or on one record (``transform_one``), and the two agree exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import polars as pl
from sklearn.model_selection import KFold

from mlwright.errors import InputError, NotFittedError, SchemaMismatchError, list_choices
from mlwright.features import _values as v
from mlwright.features._embedding import CHECK_ROWS, MIN_R2, TextEmbedding, out_of_fold_r2
from mlwright.features._engineered import (
    ENGINEERED_TRANSFORMS,
    CountEncoded,
    GroupAggregate,
    Selection,
    select,
)
from mlwright.features._transforms import (
    TRANSFORMS,
    Codes,
    DateParts,
    HashedTfidf,
    OneHot,
    Raw,
    Scaled,
    TargetEncoded,
    Transform,
    frequent_levels,
    transform_from_dict,
)

FeatureStyle = Literal["tree", "linear", "engineered"]
FEATURE_STYLES: tuple[FeatureStyle, ...] = ("tree", "linear", "engineered")
# "calendar" is the task's time column read for its calendar parts only (never its position
# in time): a plan kind, not a kind of input column (FEATURE_KINDS).
FeatureKind = Literal["numeric", "categorical", "boolean", "datetime", "text", "calendar"]
FEATURE_KINDS: tuple[FeatureKind, ...] = ("numeric", "categorical", "boolean", "datetime", "text")
CALENDAR_PARTS = ("month", "day", "weekday")  # and "hour" when the times vary


@dataclass(frozen=True)
class PlanSettings:
    """Knobs of a plan; their values are saved with it."""

    tree_min_count: int = 5
    tree_max_levels: int = 250
    linear_min_count: int = 10
    max_onehot: int = 30
    text_buckets: int = 128
    # Leading dimensions of a text column's sentence embedding beside its TF-IDF (0: none),
    # where it predicts the target (``_embedding.MIN_R2``).
    text_embedding_dims: int = 64
    smoothing: float = 10.0
    encoding_folds: int = 5
    # The "engineered" style's (saved only in its plans, so the other styles' are unchanged):
    # count and target encodings for categoricals of more than count_min_levels levels ...
    count_min_levels: int = 10
    count_max_levels: int = 10_000  # levels kept per encoding, most frequent first
    # ... and, chosen by a quick LightGBM's gain on at most selection_rows of the fitted rows
    # (none below engineer_min_rows): interactions among the top_interacting numeric columns,
    # and group means of the top groupby_numerics numeric columns within the top
    # groupby_categoricals categorical columns of 2 to groupby_max_levels levels.
    max_interactions: int = 8
    top_interacting: int = 6
    groupby_categoricals: int = 2
    groupby_numerics: int = 3
    groupby_max_levels: int = 100
    selection_rows: int = 20_000
    selection_trees: int = 30
    engineer_min_rows: int = 100


# The engineered style's settings: those from count_min_levels on.
_SETTINGS = [f.name for f in fields(PlanSettings)]
_ENGINEERING_SETTINGS = frozenset(_SETTINGS[_SETTINGS.index("count_min_levels") :])
_ALL_TRANSFORMS: dict[str, type[Transform]] = {
    **TRANSFORMS,
    **ENGINEERED_TRANSFORMS,
    TextEmbedding.kind: TextEmbedding,
}


def target_matrix(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Targets as an (n, k) float matrix: one column for regression and binary (the positive
    class), one per class for multiclass."""
    if n_classes > 2:
        return np.eye(n_classes, dtype=np.float64)[y.astype(np.int64)]
    return y.astype(np.float64).reshape(-1, 1)


class FeaturePlan:
    """Fitted feature recipe for one style over the given ``(column, kind)`` pairs.

    ``n_classes`` is 0 for regression, else the number of classes (target encoding only).
    """

    def __init__(
        self,
        columns: Sequence[tuple[str, FeatureKind]],
        style: FeatureStyle,
        *,
        n_classes: int = 0,
        settings: PlanSettings | None = None,
        seed: int = 0,
    ):
        self.columns = list(columns)
        self.style = style
        self.n_classes = n_classes
        self.settings = settings if settings is not None else PlanSettings()
        self.seed = seed

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, data: pl.DataFrame, y: np.ndarray | None = None) -> FeaturePlan:
        self._fit(data, y)
        return self

    def fit_transform(self, data: pl.DataFrame, y: np.ndarray | None = None) -> np.ndarray:
        """Fit and transform the training rows; target encodings of these rows are out-of-fold
        so that a model trained on them does not see its own targets."""
        out_of_fold = self._fit(data, y)
        blocks = [
            out_of_fold[i] if i in out_of_fold else t.batch_frame(data)
            for i, t in enumerate(self.transforms_)
        ]
        return _stack(blocks, len(data))

    def _fit(self, data: pl.DataFrame, y: np.ndarray | None) -> dict[int, np.ndarray]:
        self._require_columns(data)
        s = self.settings
        trees = self.style != "linear"  # the engineered style starts from the tree outputs
        transforms: list[Transform] = []
        out_of_fold: dict[int, np.ndarray] = {}
        for name, kind in self.columns:
            series = data[name]
            if kind == "numeric":
                values = v.number_column(series)
                transforms.append(Raw(name) if trees else Scaled.fit(name, values))
            elif kind == "boolean":
                values = v.boolean_column(series)
                transforms.append(
                    Raw(name, boolean=True) if trees else Scaled.fit(name, values, boolean=True)
                )
            elif kind == "categorical":
                keys = v.category_column(series)
                if trees:
                    levels, _ = frequent_levels(
                        keys, min_count=s.tree_min_count, max_levels=s.tree_max_levels
                    )
                    transforms.append(Codes(name, levels=levels))
                    continue
                levels, rare = frequent_levels(
                    keys, min_count=s.linear_min_count, max_levels=len(keys)
                )
                if len(levels) <= s.max_onehot or y is None:
                    transforms.append(
                        OneHot(
                            name,
                            levels=levels[: s.max_onehot],
                            other=rare or len(levels) > s.max_onehot,
                            missing=bool(keys.null_count() > 0),
                        )
                    )
                else:
                    encoder, block = self._fit_target_encoding(name, keys, levels, y)
                    out_of_fold[len(transforms)] = block
                    transforms.append(encoder)
            elif kind in ("datetime", "calendar"):
                transforms.append(self._fit_dates(name, series, calendar=kind == "calendar"))
            elif kind == "text":
                transforms += self._fit_text(name, series, y)
            else:
                raise ValueError(f"unknown feature kind {kind!r} for column '{name}'")
        if self.style == "engineered":
            engineered, encoded = self._fit_engineered(data, y, transforms)
            out_of_fold.update({len(transforms) + i: block for i, block in encoded.items()})
            transforms.extend(engineered)
        self._set_transforms(transforms)
        return out_of_fold

    def _fit_text(self, name: str, series: pl.Series, y: np.ndarray | None) -> list[Transform]:
        """A text column's hashed TF-IDF, and its embedding where that predicts the target."""
        s = self.settings
        texts = v.category_column(series).to_list()
        out: list[Transform] = [HashedTfidf.fit(name, texts, s.text_buckets)]
        if s.text_embedding_dims and y is not None:
            embedding = TextEmbedding.fit(name, s.text_embedding_dims)
            if self._embedding_pays(embedding, series, y):
                out.append(embedding)
        return out

    def _embedding_pays(self, embedding: TextEmbedding, series: pl.Series, y: np.ndarray) -> bool:
        """Whether a text column's embedding predicts the target (see ``MIN_R2``)."""
        rows = np.arange(len(series))
        if len(rows) > CHECK_ROWS:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, CHECK_ROWS, replace=False))
        X = embedding.batch(series.gather(rows))
        Y = target_matrix(np.asarray(y)[rows], self.n_classes)
        return out_of_fold_r2(X, Y, seed=self.seed) >= MIN_R2

    def _set_transforms(self, transforms: list[Transform]) -> None:
        """Keep the fitted transforms, and the single-record path's steps: the leading
        one-column transforms as (column, bound ``one``) pairs, which spares a call per
        transform on the serving hot path, then ``one_record`` of the rest."""
        self.transforms_ = transforms
        split = next(
            (i for i, t in enumerate(transforms) if type(t).one_record is not Transform.one_record),
            len(transforms),
        )
        self._by_value = [(t.column, t.one) for t in transforms[:split]]
        self._by_record = [t.one_record for t in transforms[split:]]

    def _fit_engineered(
        self, data: pl.DataFrame, y: np.ndarray | None, base: list[Transform]
    ) -> tuple[list[Transform], dict[int, np.ndarray]]:
        """The engineered style's extra transforms after the ``base`` (tree) ones, and the
        out-of-fold outputs of its target encodings (by position in the list returned).

        In order: count encodings, then (with a target) out-of-fold target encodings of the
        categoricals of more than ``count_min_levels`` levels; then, with a target and at
        least ``engineer_min_rows`` rows, the interactions and group aggregates that
        ``select`` picks. None of these changes the base outputs."""
        s = self.settings
        categoricals = [
            (name, v.category_column(data[name]))
            for name, kind in self.columns
            if kind == "categorical"
        ]
        wide = [(n, keys) for n, keys in categoricals if _n_levels(keys) > s.count_min_levels]
        extra: list[Transform] = [
            CountEncoded.fit(name, keys, s.count_max_levels) for name, keys in wide
        ]
        encoded: dict[int, np.ndarray] = {}
        if y is None:
            return extra, encoded
        if len(data) >= s.encoding_folds:
            for name, keys in wide:
                levels, _ = frequent_levels(
                    keys, min_count=s.tree_min_count, max_levels=s.count_max_levels
                )
                encoder, block = self._fit_target_encoding(name, keys, levels, y)
                encoded[len(extra)] = block
                extra.append(encoder)
        if len(data) >= s.engineer_min_rows:
            extra.extend(self._fit_selected(data, y, base))
        return extra, encoded

    def _fit_selected(
        self, data: pl.DataFrame, y: np.ndarray, base: list[Transform]
    ) -> list[Transform]:
        """Interactions and group aggregates chosen by gain on a seeded sample of at most
        ``selection_rows`` rows; the group means themselves are over every fitted row."""
        s = self.settings
        rows = np.arange(len(data))
        if len(data) > s.selection_rows:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(len(data), s.selection_rows, replace=False))
        interactions, groups = select(
            data[rows],
            np.asarray(y)[rows],
            base,
            n_classes=self.n_classes,
            seed=self.seed,
            choose=Selection(
                max_interactions=s.max_interactions,
                top_numeric=s.top_interacting,
                groupby_categoricals=s.groupby_categoricals,
                groupby_numerics=s.groupby_numerics,
                groupby_max_levels=s.groupby_max_levels,
                trees=s.selection_trees,
            ),
        )
        aggregates = [
            GroupAggregate.fit(
                num.column, cat.column, boolean=num.boolean, levels=cat.levels, data=data
            )
            for num, cat in groups
        ]
        return [*interactions, *aggregates]

    def _fit_target_encoding(
        self, name: str, keys: pl.Series, levels: list[str], y: np.ndarray
    ) -> tuple[TargetEncoded, np.ndarray]:
        targets = target_matrix(y, self.n_classes)
        smoothing = self.settings.smoothing
        raw = np.empty_like(targets)
        folds = KFold(self.settings.encoding_folds, shuffle=True, random_state=self.seed)
        for fit_rows, enc_rows in folds.split(targets):
            table, prior = TargetEncoded.encode(
                keys[fit_rows], targets[fit_rows], levels, smoothing
            )
            encoder = TargetEncoded(
                name,
                levels=levels,
                table=table,
                prior=prior,
                mean=[0.0] * len(prior),
                std=[1.0] * len(prior),
            )
            raw[enc_rows] = encoder.batch(keys[enc_rows])
        mean = raw.mean(axis=0)
        std = raw.std(axis=0)
        std[std <= 0] = 1.0
        table, prior = TargetEncoded.encode(keys, targets, levels, smoothing)
        encoder = TargetEncoded(
            name, levels=levels, table=table, prior=prior, mean=mean.tolist(), std=std.tolist()
        )
        return encoder, (raw - mean) / std

    def _fit_dates(self, name: str, series: pl.Series, *, calendar: bool = False) -> DateParts:
        """Date parts and days elapsed; for the time column (``calendar``) only the parts
        that recur, since every row the model scores is later than those it was fitted on."""
        ts = v.timestamp_column(series)
        epochs = ts.dt.epoch("us").drop_nulls()
        ref_us = int(epochs.min()) if len(epochs) else 0  # type: ignore[arg-type]
        has_time = bool(len(epochs) and (epochs % 86_400_000_000 != 0).any())
        hour = ["hour"] if has_time else []
        if calendar:
            parts = [*CALENDAR_PARTS, *hour]
        else:
            parts = ["year", "month", "day", "weekday", *hour, "elapsed_days"]
        draft = DateParts(name, parts=parts, ref_us=ref_us)
        if self.style != "linear":  # tree and engineered keep the raw parts
            return draft
        raw = draft.raw_batch(series)
        scalers = [Scaled.fit(f"{name}__{p}", raw[:, i]).params() for i, p in enumerate(parts)]
        return DateParts(name, parts=parts, ref_us=ref_us, scalers=scalers)

    # -- running ------------------------------------------------------------------------------

    def _fitted(self) -> list[Transform]:
        try:
            return self.transforms_
        except AttributeError:
            raise NotFittedError(
                "this FeaturePlan is not fitted", hint="call fit(data) first"
            ) from None

    def _require_columns(self, data: pl.DataFrame) -> None:
        present = set(data.columns)
        missing = [name for name, _ in self.columns if name not in present]
        if missing:
            raise SchemaMismatchError(
                f"{len(missing)} input column(s) the model needs are missing: "
                f"{list_choices(missing)}",
                field=missing[0],
                hint="score a table with the same columns as the training data",
            )

    def transform(self, data: pl.DataFrame) -> np.ndarray:
        """The feature matrix for a table, float64, one row per input row."""
        transforms = self._fitted()
        self._require_columns(data)
        return _stack([t.batch_frame(data) for t in transforms], len(data))

    def transform_one(self, record: Mapping[str, Any]) -> list[float]:
        """The feature vector for one record (a mapping of column -> value)."""
        out: list[float] = []
        try:
            for column, one in self._by_value:
                one(record[column], out)
            for one_record in self._by_record:
                one_record(record, out)
        except KeyError as exc:
            column = exc.args[0]
            raise InputError(
                f"field '{column}' is missing from the record",
                field=str(column),
                hint=f"send every input field ({list_choices([c for c, _ in self.columns])}); "
                "use null for a missing value",
            ) from None
        except AttributeError:
            self._fitted()
            raise
        return out

    # -- introspection and persistence -------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        return [name for t in self._fitted() for name in t.names]

    @property
    def sources(self) -> list[str]:
        """The input column each output feature is computed from, in output order. An output
        of two columns is attributed to one of them: an interaction to its first column, a
        group mean to the categorical column (the mean depends on the level alone) and the
        value minus that mean to the numeric column."""
        return [source for t in self._fitted() for source in t.output_sources]

    @property
    def n_engineered(self) -> int:
        """How many outputs the engineered style adds after the tree outputs (0 for the
        other styles, and when nothing qualified: the plan then equals the tree plan)."""
        fitted = self._fitted()
        # One base transform per column, two for a text column with its embedding.
        base = len(self.columns) + sum(isinstance(t, TextEmbedding) for t in fitted)
        return sum(len(t.names) for t in fitted[base:])

    @property
    def categorical_indices(self) -> list[int]:
        """Output positions holding native category codes (for gradient boosting)."""
        indices: list[int] = []
        offset = 0
        for t in self._fitted():
            indices.extend(offset + i for i in t.categorical_outputs)
            offset += len(t.names)
        return indices

    def to_dict(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "columns": [[name, kind] for name, kind in self.columns],
            "n_classes": self.n_classes,
            "settings": self._settings_dict(),
            "seed": self.seed,
            "transforms": [t.to_dict() for t in self._fitted()],
        }

    def _settings_dict(self) -> dict[str, Any]:
        """The settings; the engineering ones in engineered plans only, so that a tree or
        linear plan is saved exactly as before they existed."""
        settings = asdict(self.settings)
        if self.style == "engineered":
            return settings
        return {k: x for k, x in settings.items() if k not in _ENGINEERING_SETTINGS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeaturePlan:
        plan = cls(
            [(str(name), kind) for name, kind in data["columns"]],
            data["style"],
            n_classes=int(data["n_classes"]),
            settings=PlanSettings(**data["settings"]),
            seed=int(data["seed"]),
        )
        transforms = [transform_from_dict(t, _ALL_TRANSFORMS) for t in data["transforms"]]
        known = {name for name, _ in plan.columns}
        for t in transforms:
            unknown = [c for c in t.columns if c not in known]
            if unknown:
                raise ValueError(
                    f"a {t.kind} transform reads column {unknown[0]!r}, not in the plan"
                )
        plan._set_transforms(transforms)
        return plan


def _n_levels(keys: pl.Series) -> int:
    return int(keys.drop_nulls().n_unique())


def _stack(blocks: list[np.ndarray], n_rows: int) -> np.ndarray:
    if not blocks:
        return np.zeros((n_rows, 0), dtype=np.float64)
    return np.ascontiguousarray(np.hstack(blocks), dtype=np.float64)
