"""Candidate configurations for the learned portfolio from AutoGluon's zero-shot portfolio.

AutoGluon (Apache-2.0) ships ``hyperparameter_portfolio_zeroshot_2023``: configurations that
TabRepo chose by zero-shot HPO over some 200 public datasets, in its order of priority.
They are *candidates* here, beside each family's hand-written defaults and random draws
from its search space; which of them the learned portfolio keeps is chosen on the
meta-suite alone (``benchmarks/portfolio.py``). This script translates the first ``--top``
configurations of each family AutoGluon and mlwright share into mlwright's parameter names
and writes ``benchmarks/zeroshot_candidates.json``; the file is committed, so neither the
portfolio script nor mlwright needs AutoGluon. Kept: the settings mlwright's learners take
as they are; left out, with the reason in the file: AutoGluon's own default ({}, not the
library's), CatBoost's non-symmetric trees (mlwright's CatBoost is oblivious trees), and
XGBoost's ``enable_categorical`` (mlwright encodes categories itself).

    python benchmarks/zeroshot_candidates.py \\
        /tmp/bench-venv/lib/python3.11/site-packages/autogluon/tabular/configs/zeroshot/zeroshot_portfolio_2023.py
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "zeroshot_candidates.json"
# AutoGluon's model keys and the mlwright families that take their settings.
FAMILIES = {
    "GBM": ("lightgbm", "lightgbm_fe"),
    "CAT": ("catboost",),
    "XGB": ("xgboost",),
    "RF": ("random_forest",),
    "XT": ("extra_trees",),
}
PROBLEM_TYPES = ("binary", "multiclass", "regression")


def read_portfolio(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The portfolio dict of AutoGluon's file, read as a literal (nothing is imported)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            value = ast.literal_eval(node.value)
            if isinstance(value, dict) and "GBM" in value:
                return value
    raise ValueError(f"{path} has no portfolio dict with a 'GBM' key")


def translate(key: str, config: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """mlwright's parameters for one AutoGluon configuration, or None and why not."""
    params = {k: v for k, v in config.items() if k != "ag_args"}
    if not params:
        return None, "AutoGluon's own default, not the library's"
    if key == "CAT" and params.pop("grow_policy", "SymmetricTree") != "SymmetricTree":
        return None, "non-symmetric trees"
    if key == "XGB":
        params.pop("enable_categorical", None)
    return params, ""


def candidates(portfolio: dict[str, list[dict[str, Any]]], top: int) -> dict[str, Any]:
    """Per mlwright family, the first ``top`` configurations kept, each with its name in
    AutoGluon and the problem types it serves; and what was left out."""
    out: dict[str, list[dict[str, Any]]] = {}
    left_out: list[str] = []
    for key, families in FAMILIES.items():
        kept = []
        for config in portfolio.get(key, []):
            ag_args = config.get("ag_args", {})
            name = f"{key}{ag_args.get('name_suffix', '')}"
            params, why = translate(key, config)
            if params is None:
                left_out.append(f"{name}: {why}")
                continue
            types = [t for t in ag_args.get("problem_types", PROBLEM_TYPES) if t in PROBLEM_TYPES]
            kept.append({"name": name, "params": params, "problem_types": types})
            if len(kept) == top:
                break
        for family in families:
            out[family] = kept
    return {"families": out, "left_out": left_out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="AutoGluon's zeroshot_portfolio_2023.py")
    parser.add_argument("--top", type=int, default=8, help="configurations per family")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    found = candidates(read_portfolio(args.source), args.top)
    meta = {
        "source": "AutoGluon hyperparameter_portfolio_zeroshot_2023 (Apache-2.0), "
        f"{args.source.name}",
        "top": args.top,
    }
    args.out.write_text(json.dumps({"meta": meta, **found}, indent=1) + "\n")
    print(f"wrote {args.out}: " + ", ".join(f"{f} {len(c)}" for f, c in found["families"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
