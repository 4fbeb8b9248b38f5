"""`common.text`: data in a Markdown string keeps no character Markdown, GFM or Streamlit give a
meaning to, and no bare URL, www. name or e-mail address GFM would turn into a link. (What a
browser then shows is tested in tests/e2e/test_browser_attacker.py.)"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from oncall_opt.console.common import line, text

SPECIAL = set("\\`*_{}[]()#+-.!|<>~:$&=^\"'@/")


def unescaped(markdown: str) -> list[str]:
    """Special characters in `markdown` not preceded by the backslash that escapes them."""
    found, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\":
            i += 2
            continue
        if markdown[i] in SPECIAL:
            found.append(markdown[i])
        i += 1
    return found


@given(st.text())
def test_every_special_character_is_escaped(value):
    assert unescaped(text(value)) == []
    assert re.sub(r"\\(.)", r"\1", text(value)).replace("\u2060", "").replace("  \n", "\n") == (
        value.replace("\r\n", "\n")
    )


def test_links_images_badges_and_autolinks_are_defused():
    shown = text(
        "![x](http://evil/x.png) [ack](https://evil) :green-badge[Resolved] www.evil.io a@b.co"
    )
    assert shown.startswith("\\!\\[x\\]\\(") and "\\:green\\-badge\\[" in shown, shown
    for autolink in ("http\\:\u2060", "https\\:\u2060", "www\u2060", "a\\@\u2060b"):
        assert autolink in shown, shown
    for address in ("x-@evil.example", "ops+@evil.example", "a.@evil.example", "a@b.c"):
        assert "\\@\u2060" in text(address), address
    assert text("(@ana)") == "\\(\\@ana\\)"  # a handle, no address: left as it is


def test_line_keeps_one_line():
    assert line("Ana\n# Silva\r\n- x") == "Ana \\# Silva \\- x"
