"""The runbook (docs/runbook.md) as a page, so that every problem the Health page shows links to
what to do about it.

The Markdown is rendered with raw HTML turned off, so the file cannot put a script on the page.
Each heading gets the anchor GitHub would give it, so links work the same on both. The file is
packaged beside this module (a link to docs/runbook.md in a checkout, a copy in a wheel).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from markdown_it import MarkdownIt
from markdown_it.token import Token

NO_RULES = "LeadRouterNoRulesLoaded"
VERSION_REFUSED = "LeadRouterRulesVersionRefused"
RECORD_REFUSED = "LeadRouterConfigRecordRefused"
LAG = "LeadRouterConsumerLagGrowing"
DEAD_LETTERS = "LeadRouterDeadLetterRateHigh"
"""Runbook sections the Health page links to, by their headings."""


def anchor(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def link(section: str) -> str:
    """The console's address of a runbook section."""
    return f"/runbook#{anchor(section)}"


@functools.cache
def runbook_html() -> str | None:
    """The runbook as HTML, or None when it is not installed with the console."""
    source = resources.files("processor.console.web").joinpath("runbook.md")
    try:
        text = source.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = markdown.parse(text)
    for number, token in enumerate(tokens):
        if token.type == "heading_open":
            token.attrSet("id", anchor(tokens[number + 1].content))
        elif token.type == "inline":
            _unlink_files(token.children or [])
    return str(markdown.renderer.render(tokens, markdown.options, {}))


def _unlink_files(children: list[Token]) -> None:
    """Links to other files of the repository lead nowhere on the console: their text stays,
    the link goes. Links within the page and to other sites stay links."""
    open_links: list[bool] = []
    for child in children:
        if child.type == "link_open":
            href = str(child.attrGet("href") or "")
            dropped = not href.startswith(("#", "https://", "http://"))
            open_links.append(dropped)
        elif child.type == "link_close":
            dropped = open_links.pop() if open_links else False
        else:
            continue
        if dropped:
            child.type, child.tag, child.attrs = "text", "", {}
