"""User text on a page: shown exactly as written, never read as Markdown."""

from __future__ import annotations

import re

MARKDOWN_SIGNS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def markdown_safe(text) -> str:
    """Give back text with every Markdown sign escaped (no links, emphasis, headings or formulas)."""
    return MARKDOWN_SIGNS.sub(r"\\\1", str(text))
