import string

import pytest

from ifexplorer.ui.text import md_escape

HOSTILE = ["![pwn](http:127.0.0.1:8739)", "[click me](javascript:alert(1))", "<img src=x onerror=alert(1)>",
           "**bold** _it_ `code` $x^2$ :smile: www.example.com http://example.com/a.png", "# heading\n- item\r\x00"]


def _unescape(text: str) -> str:
    out, it = [], iter(text)
    for c in it:
        out.append(next(it) if c == "\\" else c)
    return "".join(out)


@pytest.mark.parametrize("name", HOSTILE)
def test_every_punctuation_mark_is_escaped_and_the_text_survives(name):
    escaped = md_escape(name)
    assert "\n" not in escaped and "\r" not in escaped and "\x00" not in escaped
    chars = list(escaped)
    k = 0
    while k < len(chars):  # every ASCII punctuation mark comes right after a backslash of its own
        if chars[k] == "\\":
            assert chars[k + 1] in string.punctuation
            k += 2
            continue
        assert chars[k] not in string.punctuation, escaped
        k += 1
    assert _unescape(escaped) == "".join(c for c in name if c >= " ")


def test_plain_names_are_unchanged_apart_from_punctuation():
    assert md_escape("cats") == "cats" and md_escape(7) == "7" and md_escape("a.png") == "a\\.png"
    assert md_escape("T-shirt/top") == "T\\-shirt\\/top"
