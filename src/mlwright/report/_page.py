"""A report's page: sections of text, tables and plots, rendered to a self-contained HTML page
(inline CSS and SVG plots: it works offline, with no script at all) and to a Markdown twin
(the same text and tables). The model card, the recommender's card and the monitoring
dashboard are written with it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Plot:
    title: str
    svg: str


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Plot] = field(default_factory=list)

    def text(self, *lines: str) -> None:
        self.blocks.extend(line for line in lines if line)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        if rows:
            self.blocks.append(Table(header, rows))

    def plot(self, title: str, draw: Callable[[], str]) -> None:
        self.blocks.append(Plot(title, draw()))


@dataclass
class Card:
    title: str
    subtitle: str
    sections: list[Section]
    glance: list[tuple[str, str]] = field(default_factory=list)

    def write(self, html_path: Any = None, markdown_path: Any = None) -> tuple[str, str]:
        """Render the card and return (html, markdown); write them when paths are given."""
        from pathlib import Path

        page, text = self.to_html(), self.to_markdown()
        if html_path is not None:
            Path(html_path).write_text(page, encoding="utf-8")
        if markdown_path is not None:
            Path(markdown_path).write_text(text, encoding="utf-8")
        return page, text

    def to_markdown(self) -> str:
        out = [f"# {self.title}", "", self.subtitle, ""]
        out += [f"- **{label}**: {text}" for label, text in self.glance]
        out.append("")
        for section in self.sections:
            out += [f"## {section.title}", ""]
            for block in section.blocks:
                if isinstance(block, Table):
                    out.append("| " + " | ".join(_md(h) for h in block.header) + " |")
                    out.append("|" + "---|" * len(block.header))
                    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in block.rows]
                    out.append("")
                elif isinstance(block, Plot):
                    out += [f"*Plot: {block.title} (in the HTML card).*", ""]
                else:
                    out += [block, ""]
        return "\n".join(out).rstrip() + "\n"

    def to_html(self) -> str:
        body = [f"<h1>{_h(self.title)}</h1>", f'<p class="sub">{_h(self.subtitle)}</p>']
        if self.glance:
            items = "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in self.glance)
            body.append(f'<dl class="glance">{items}</dl>')
        toc = "".join(
            f'<li><a href="#s{i}">{_h(s.title)}</a></li>' for i, s in enumerate(self.sections)
        )
        body.append(f"<nav><ol>{toc}</ol></nav>")
        for i, section in enumerate(self.sections):
            body.append(f'<section id="s{i}"><h2>{_h(section.title)}</h2>')
            for block in section.blocks:
                if isinstance(block, Table):
                    head = "".join(f"<th>{_h(h)}</th>" for h in block.header)
                    rows = "".join(
                        "<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>"
                        for row in block.rows
                    )
                    body.append(
                        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
                    )
                elif isinstance(block, Plot):
                    body.append(
                        f'<figure class="plot">{block.svg}<figcaption>{_h(block.title)}'
                        "</figcaption></figure>"
                    )
                else:
                    body.append(f"<p>{_h(block)}</p>")
            body.append("</section>")
        return _PAGE.format(title=_h(self.title), body="\n".join(body))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933;
  max-width: 980px; margin: 2rem auto; padding: 0 1.2rem; }}
h1 {{ margin-bottom: .2rem; }} .sub {{ color: #52606d; margin-top: 0; }}
h2 {{ border-bottom: 2px solid #e4e7eb; padding-bottom: .2rem; margin-top: 2.2rem; }}
nav ol {{ columns: 2; color: #52606d; }} nav a {{ color: #2563eb; text-decoration: none; }}
table {{ border-collapse: collapse; margin: .8rem 0; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #e4e7eb; padding: .3rem .7rem; text-align: left;
  vertical-align: top; }}
th {{ background: #f5f7fa; }}
figure.plot {{ margin: 1rem 0; }} figure.plot svg {{ max-width: 100%; height: auto; }}
figcaption {{ color: #52606d; font-size: 13px; }}
dl.glance {{ display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem;
  background: #f5f7fa; padding: 1rem 1.2rem; border-radius: 8px; }}
dl.glance dt {{ font-weight: 600; }} dl.glance dd {{ margin: 0; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def _h(text: str) -> str:
    return html.escape(str(text), quote=True)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
