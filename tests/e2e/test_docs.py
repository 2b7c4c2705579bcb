"""The documentation's examples run, and the reference pages cover what the code has."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path

import pytest

from clirun import mlwright
from mlwright.cli import app
from mlwright.spec import render_spec, spec_from_kwargs

ROOT = Path(__file__).resolve().parents[2]


def blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), flags=re.DOTALL)


def commands(page: Path) -> list[list[str]]:
    lines = [line for block in blocks(page, "console") for line in block.splitlines()]
    return [shlex.split(line[2:], comments=True) for line in lines if line.startswith("$ ")]


@pytest.mark.parametrize("page", ["README.md", "docs/cli.md"])
def test_console_examples_run(page: str, repo_copy: Path) -> None:
    examples = commands(ROOT / page)
    assert examples, f"{page} has no console examples"
    for argv in examples:
        assert argv[0] == "mlwright", argv
        result = mlwright(*argv[1:], cwd=repo_copy, timeout=300)
        assert result.code == 0, str(result)
        assert "Traceback" not in result.output


def test_readme_python_example_runs(repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_copy)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (code,) = blocks(ROOT / "README.md", "python")
    namespace = runpy.run_path(str(_script(repo_copy, code)))
    model, same, record = namespace["model"], namespace["same"], namespace["record"]
    assert same.predict_proba_one(record) == model.predict_proba_one(record)
    assert (repo_copy / "models" / "churn-notebook" / "manifest.json").exists()


def test_every_command_and_option_is_documented() -> None:
    import typer.main

    text = (ROOT / "docs" / "cli.md").read_text()
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert f"## `mlwright {name}" in text, f"command {name} is not documented"
        for param in command.params:
            for option in param.opts:
                if option.startswith("-"):
                    assert option in text, f"option {option} of {name} is not documented"
    assert "--version" in text


def test_spec_reference_matches_the_code() -> None:
    page = (ROOT / "docs" / "spec.md").read_text()
    documented = page.split("<!-- spec-reference:start -->\n```toml\n")[1].split("```")[0]
    rendered = render_spec(spec_from_kwargs({"target": "churn"}))
    assert documented == rendered, "docs/spec.md is stale: run `make docs`"


def test_every_finding_code_is_documented() -> None:
    source = (ROOT / "src" / "mlwright" / "data" / "_checks.py").read_text()
    codes = set(re.findall(r'"([a-z_]+\.[a-z_]+)",\s*\n\s*"(?:info|warning|blocking)', source))
    codes |= set(re.findall(r'"([a-z_]+\.[a-z_]+)",\s*\n\s*"blocking" if', source))
    assert len(codes) >= 15
    page = (ROOT / "docs" / "checks.md").read_text()
    missing = sorted(code for code in codes if f"`{code}`" not in page)
    assert not missing, f"undocumented finding codes: {missing}"


def test_every_interaction_finding_code_is_documented() -> None:
    source = (ROOT / "src" / "mlwright" / "recommend" / "_checks.py").read_text()
    codes = set(re.findall(r'f?"(interactions\.[a-z_{}]+)"', source))
    codes = {c for c in codes if "{" not in c} | {
        "interactions.missing_user",
        "interactions.missing_item",
    }  # written as f"interactions.missing_{role}"
    assert len(codes) >= 8
    page = (ROOT / "docs" / "checks.md").read_text()
    missing = sorted(code for code in codes if f"`{code}`" not in page)
    assert not missing, f"undocumented finding codes: {missing}"


def test_evaluation_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (code,) = blocks(ROOT / "docs" / "evaluation.md", "python")
    namespace = runpy.run_path(str(_script(tmp_path, code)))
    bands, one, why = namespace["bands"], namespace["one"], namespace["why"]
    inputs = why.drop(columns=["base", "prediction"])
    assert (why["base"] + inputs.sum(axis=1) - why["prediction"]).abs().max() < 1e-6
    assert list(bands.columns) == ["prediction", "lower", "upper"]
    assert bands["lower"].iloc[0] == pytest.approx(one["lower"])
    assert one["lower"] < one["prediction"] < one["upper"]


def _script(directory: Path, code: str) -> Path:
    script = directory / "docs_example.py"
    script.write_text(code)
    return script


def test_evaluation_value_matrix_example_is_a_valid_spec() -> None:
    import tomllib

    from mlwright.spec import spec_from_dict

    matrix_block, card_block = blocks(ROOT / "docs" / "evaluation.md", "toml")
    card = spec_from_dict({"task": {"target": "y"}, **tomllib.loads(card_block)}).card
    assert card.question is not None
    assert card.out_of_scope
    value = tomllib.loads(matrix_block)["value"]
    spec = spec_from_dict({"task": {"target": "y", "problem_type": "multiclass"}, "value": value})
    matrix = spec.value.matrix_for(["high", "low", "mid"])
    assert matrix is not None
    assert matrix.tolist() == [[5.0, -20.0, -10.0], [-2.0, 0.0, -1.0], [-1.0, -1.0, 0.0]]
