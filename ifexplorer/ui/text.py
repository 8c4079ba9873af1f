"""Safe text for Streamlit: every user-controlled string (class names, file names, sample ids, upload
names) goes through `md_escape` before it reaches st.markdown, st.caption, labels or messages."""
from __future__ import annotations

import string

# CommonMark lets any ASCII punctuation be backslash-escaped; escaping all of it also stops links, images,
# emphasis, HTML tags, LaTeX ($), emoji shortcodes (:x:) and autolinks (www., http://) from forming.
_ESCAPES = {ord(c): "\\" + c for c in string.punctuation}
_CONTROL = {c: None for c in range(32) if c not in (9,)}  # drop newlines and other control characters


def md_escape(text: object) -> str:
    """`text` as literal markdown: str(text) with control characters dropped and ASCII punctuation escaped."""
    return str(text).translate(_CONTROL).translate(_ESCAPES)
