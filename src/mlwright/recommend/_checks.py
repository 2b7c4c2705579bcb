"""Data checks for an interaction log, as findings in the same form as a table's checks:
what was found, the evidence as numbers, how bad, and what to do.

Blocking: rows without a user or an item, times that do not parse or are missing, a
weight that is not a number, too few users to hold any out. Warnings: users with a single
interaction (they can be neither split nor scored), a catalogue of mostly one-user items.
Information: repeated (user, item) pairs, how concentrated interactions are on few items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlwright.data import Finding
from mlwright.errors import DataCheckError, DataError
from mlwright.recommend._interactions import epoch_seconds

MIN_USERS = 10
SINGLE_USER_ITEMS_WARN = 0.5  # share of items met by one user only


@dataclass(frozen=True)
class InteractionChecks:
    """Every finding on an interaction log, most severe first, and the spec's allow list."""

    findings: list[Finding]
    allow: list[str]
    rows: int
    users: int
    items: int

    @property
    def blocking(self) -> list[Finding]:
        return [
            f for f in self.findings if f.severity == "blocking" and not f.allowed_by(self.allow)
        ]

    def raise_if_blocking(self) -> None:
        blocking = self.blocking
        if blocking:
            first = blocking[0]
            others = (
                f" (and {len(blocking) - 1} more blocking finding(s))" if len(blocking) > 1 else ""
            )
            raise DataCheckError(
                f"{first.message}{others}",
                field=first.column,
                hint=first.action,
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "users": self.users,
            "items": self.items,
            "findings": [f.to_dict() for f in self.findings],
        }


def _first_row(mask: pl.Series) -> int:
    return int(mask.arg_true()[0])


def _require_columns(frame: pl.DataFrame, roles: dict[str, str | None]) -> None:
    for role, name in roles.items():
        if name is not None and name not in frame.columns:
            raise DataError(
                f"{role} column '{name}' not found; columns are: {', '.join(frame.columns)}",
                field=f"task.{role}",
                hint=f"set task.{role} to one of the columns above",
            )


def _missing_ids(frame: pl.DataFrame, user: str, item: str) -> list[Finding]:
    findings: list[Finding] = []
    for role, name in (("user", user), ("item", item)):
        missing = frame[name].is_null()
        if missing.any():
            findings.append(
                Finding(
                    f"interactions.missing_{role}",
                    "blocking",
                    f"{int(missing.sum())} interaction(s) have no {role} in '{name}' (first "
                    f"at row {_first_row(missing)})",
                    f"drop those rows or fill in the {role}",
                    column=name,
                    evidence={"rows": int(missing.sum()), "first_row": _first_row(missing)},
                )
            )
    return findings


def _time_findings(frame: pl.DataFrame, time: str) -> list[Finding]:
    try:
        times = epoch_seconds(frame[time], time)
    except DataError as exc:
        return [
            Finding(
                "interactions.unparseable_time",
                "blocking",
                exc.message,
                exc.hint or "write times as ISO 8601 text or epoch seconds",
                column=time,
            )
        ]
    bad = ~np.isfinite(times)
    if not bad.any():
        return []
    return [
        Finding(
            "interactions.missing_time",
            "blocking",
            f"{int(bad.sum())} interaction(s) have no time in '{time}' (first at "
            f"row {int(np.argmax(bad))})",
            "drop those rows or give them a time; splits order by time",
            column=time,
            evidence={"rows": int(bad.sum())},
        )
    ]


def _weight_findings(frame: pl.DataFrame, weight: str) -> list[Finding]:
    if frame[weight].dtype.is_numeric():
        return []
    return [
        Finding(
            "interactions.weight_not_numeric",
            "blocking",
            f"weight column '{weight}' has type {frame[weight].dtype}; expected numbers",
            "give a numeric weight (a rating, a count) or leave task.weight unset",
            column=weight,
        )
    ]


def _user_findings(per_user: pl.DataFrame, user: str) -> list[Finding]:
    """Too few users to hold any out; users with one interaction, who cannot be scored."""
    findings: list[Finding] = []
    users = per_user.height
    if users < MIN_USERS:
        findings.append(
            Finding(
                "interactions.too_few_users",
                "blocking",
                f"{users} user(s); at least {MIN_USERS} are needed to hold some out and still "
                "learn from the rest",
                "give the interactions of more users",
                column=user,
                evidence={"users": users, "minimum": MIN_USERS},
            )
        )
    single = int((per_user["len"] < 2).sum()) if users else 0
    if single:
        findings.append(
            Finding(
                "interactions.single_interaction_users",
                "warning",
                f"{single} of {users} users ({single / users:.0%}) have one interaction: they "
                "train the popularity counts but can be neither split nor scored",
                "expected for sparse logs; such users get recommendations from their one item",
                column=user,
                evidence={"users": single, "share": single / users},
            )
        )
    return findings


def _repeat_findings(known: pl.DataFrame, user: str, item: str) -> list[Finding]:
    pairs = known.unique(subset=[user, item]).height
    if not known.height or pairs >= known.height:
        return []
    repeats = known.height - pairs
    return [
        Finding(
            "interactions.repeated_pairs",
            "info",
            f"{repeats} interaction(s) repeat a (user, item) pair already seen; a pair "
            "counts once, at its first time, as something the user met",
            "nothing to do; repeats do not count twice",
            evidence={"rows": repeats, "share": repeats / known.height},
        )
    ]


def _concentration_findings(known: pl.DataFrame, user: str, item: str) -> list[Finding]:
    """How many items one user alone met, and how much of the log the top 1% of items hold."""
    items = known[item].n_unique()
    if not items:
        return []
    per_item = known.unique(subset=[user, item]).group_by(item).len()["len"].to_numpy()
    one_user = float((per_item < 2).mean())
    top = np.sort(per_item)[::-1]
    top_share = float(top[: max(1, len(top) // 100)].sum() / top.sum())
    return [
        Finding(
            "interactions.concentration",
            "warning" if one_user > SINGLE_USER_ITEMS_WARN else "info",
            f"{items} items; {one_user:.0%} met by one user only; the top 1% of items hold "
            f"{top_share:.0%} of the interactions",
            "items met by one user can only be found through their features or neighbours; "
            "judge the model by coverage and novelty as well as NDCG",
            column=item,
            evidence={"items": items, "one_user_share": one_user, "top1pct_share": top_share},
        )
    ]


def check_interactions(
    frame: pl.DataFrame,
    *,
    user: str,
    item: str,
    time: str | None = None,
    weight: str | None = None,
    allow: list[str] | None = None,
) -> InteractionChecks:
    """Check an interaction table before anything is fitted on it."""
    _require_columns(frame, {"user": user, "item": item, "time": time, "weight": weight})
    findings = _missing_ids(frame, user, item)
    if time is not None:
        findings += _time_findings(frame, time)
    if weight is not None:
        findings += _weight_findings(frame, weight)
    known = frame.select(user, item).drop_nulls()
    per_user = known.group_by(user).len()
    findings += _user_findings(per_user, user)
    findings += _repeat_findings(known, user, item)
    findings += _concentration_findings(known, user, item)
    order = {"blocking": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: order[f.severity])
    return InteractionChecks(
        findings, list(allow or []), frame.height, per_user.height, known[item].n_unique()
    )
