"""The report as a document: a title and a list of blocks (headings, paragraphs, tables, images), rendered to
Markdown (images as files beside it) and to one offline HTML file (images inlined as PNG data URIs).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:1rem auto;padding:0 1rem;color:#222}",
    "table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}",
    "th,td{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:left;vertical-align:top}",
    "th{background:#f4f4f4}figure{margin:1rem 0}img{max-width:100%}figcaption{font-size:.9rem;color:#555}",
)


def number_text(value: float) -> str:
    """A number to four significant digits, or "n/a" for NaN."""
    return "n/a" if math.isnan(value) else f"{value:.4g}"


def mean_std_text(mean: float, std: float) -> str:
    """ "mean ± std", or the mean alone when the deviation is NaN (a single value)."""
    return number_text(mean) if math.isnan(std) else f"{number_text(mean)} ± {number_text(std)}"


@dataclasses.dataclass
class _Table:
    headers: list[str]
    rows: list[list[str]]


@dataclasses.dataclass
class _Image:
    name: str
    png: bytes
    caption: str


class Document:
    """The report's blocks in order, each a (kind, content) pair, rendered by `markdown` and `html`."""

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple[str, str | _Table | _Image]] = []

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", _Table(headers, rows)))

    def image(self, name: str, png: bytes, caption: str) -> None:
        """A PNG figure: a file `name` beside report.md, inlined into the HTML."""
        self.blocks.append(("image", _Image(name, png, caption)))

    def markdown(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"# {self.title}", ""]
        for kind, block in self.blocks:
            if kind == "heading":
                lines += [f"## {block}", ""]
            elif kind == "paragraph":
                lines += [block, ""]
            elif kind == "table":
                lines.append("| " + " | ".join(map(cell, block.headers)) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(map(cell, row)) + " |" for row in block.rows]
                lines.append("")
            else:
                lines += [f"![{block.caption}]({block.name})", "", f"*{block.caption}*", ""]
        return "\n".join(lines)

    def html(self) -> str:
        escape = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(self.title)}</title>",
            "<style>",
            *_STYLE,
            "</style></head><body>",
            f"<h1>{escape(self.title)}</h1>",
        ]
        for kind, block in self.blocks:
            if kind == "heading":
                parts.append(f"<h2>{escape(block)}</h2>")
            elif kind == "paragraph":
                parts.append(f"<p>{escape(block)}</p>")
            elif kind == "table":
                parts.append("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in block.headers) + "</tr>")
                parts += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block.rows]
                parts.append("</table>")
            else:
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{escape(block.caption)}">'
                    f"<figcaption>{escape(block.caption)}</figcaption></figure>"
                )
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"
