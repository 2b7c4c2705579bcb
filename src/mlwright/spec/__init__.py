"""TaskSpec: the declarative task, its validation and its resolution against data."""

from mlwright.spec._draft import draft_base, draft_spec
from mlwright.spec._load import (
    RULES,
    load_spec,
    require_data_source,
    spec_from_dict,
    spec_from_kwargs,
    with_overrides,
)
from mlwright.spec._metrics import (
    DEFAULT_METRIC,
    METRICS,
    PROBLEM_TYPES,
    MetricInfo,
    ProblemType,
    metrics_for,
)
from mlwright.spec._model import (
    FLAT_FIELDS,
    SECTIONS,
    TaskSpec,
    parse_duration,
)
from mlwright.spec._render import render_spec
from mlwright.spec._resolve import (
    Resolution,
    check_columns,
    class_labels,
    infer_problem_type,
    resolve,
    safe_name,
)

__all__ = [
    "DEFAULT_METRIC",
    "FLAT_FIELDS",
    "METRICS",
    "PROBLEM_TYPES",
    "RULES",
    "SECTIONS",
    "MetricInfo",
    "ProblemType",
    "Resolution",
    "TaskSpec",
    "check_columns",
    "class_labels",
    "draft_base",
    "draft_spec",
    "infer_problem_type",
    "load_spec",
    "metrics_for",
    "parse_duration",
    "render_spec",
    "require_data_source",
    "resolve",
    "safe_name",
    "spec_from_dict",
    "spec_from_kwargs",
    "with_overrides",
]
