"""Text from data files and users, made safe to print on a terminal.

Article titles, ids and user ids come from files and forms: an ESC (``\\x1b[2J`` clears the screen), a carriage
return (overwrites the line), a C1 control (``\\x9b`` is an 8-bit CSI) or a bidirectional override (reorders
what is shown) would act on the terminal instead of being shown. :func:`printable` writes each of them as a
visible escape (``\\x1b``, ``\\r``, ``\\x9b``, ``\\u202e``), the way Python's ``repr`` does.
"""

from __future__ import annotations

import re

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# C0 controls, DEL, C1 controls; bidirectional embeddings, overrides and isolates; line and paragraph separators.
_UNSAFE = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
_UNSAFE_FIELD = re.compile(f"[{_UNSAFE}]")


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, *, one_line: bool = False) -> str:
    """``text`` (made a string) with every terminal control character written as a visible escape.

    Line breaks are kept, so a whole table or report can be passed; ``one_line=True`` escapes them too, for a
    single field (a title, an id) that must stay on its row.
    """
    text = str(text)
    if one_line:
        return _UNSAFE_FIELD.sub(_escape, text)
    return "\n".join(_UNSAFE_FIELD.sub(_escape, line) for line in text.split("\n"))
