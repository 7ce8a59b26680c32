"""Every table the programs print or write, through one table writer.

``format_table`` lays out a header and rows as Markdown (for ``.md`` files
and the docs) or as aligned plain text (for the terminal); ``write_text``
writes a report atomically. Numbers are formatted by the caller.
"""

from keras_gap.artifacts import atomic_path


def format_cell(value, digits=4):
    """A table cell: floats with ``digits`` decimals, None as "—"."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(header, rows, style="markdown", align=None):
    """Lays out ``rows`` (lists of cells, already strings or formattable) under
    ``header``.

    Args:
        style: "markdown" (a GitHub table) or "text" (columns padded with
            spaces, for the terminal).
        align: per column "l" or "r" for Markdown (default: the first column
            left, the others right).
    """
    rows = [[format_cell(cell) for cell in row] for row in rows]
    if style == "text":
        widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
                  for i, h in enumerate(header)]
        lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)
    if style != "markdown":
        raise ValueError(f"table style must be 'markdown' or 'text', got {style!r}")
    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    lines = ["| " + " | ".join(str(h) for h in header) + " |", rule]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_text(path, text):
    """Writes ``text`` (ending in one newline) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w") as handle:
            handle.write(text.rstrip("\n") + "\n")
