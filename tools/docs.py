"""Regenerate the parts of the docs that are derived from the code (`make docs`).

docs/spec.md embeds the rendered spec reference; tests/e2e/test_docs.py checks that it
matches what the code renders, so a new or changed spec field fails the tests until this
is run."""

from __future__ import annotations

from pathlib import Path

from mlwright.spec import render_spec, spec_from_kwargs

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- spec-reference:start -->\n```toml\n"
END = "```\n<!-- spec-reference:end -->"


def main() -> None:
    page = ROOT / "docs" / "spec.md"
    text = page.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    reference = render_spec(spec_from_kwargs({"target": "churn"}))
    page.write_text(before + START + reference + END + after)
    print(f"updated {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
