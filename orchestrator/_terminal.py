"""Text made safe for a terminal: control characters are shown, never acted on.

A task, a model's brief, a card or an error message may carry ESC sequences (clear
the screen, set the window title, fake a prompt), C1 controls such as the 8-bit CSI,
carriage returns that overwrite a line, bidirectional overrides that reorder it, or
lone surrogates that cannot even be encoded. Everything phasegraph prints for people
goes through `terminal_safe`, which writes each such character as a visible escape
in Python's notation: ESC becomes `\\x1b`, CR `\\r`, U+202E `\\u202e`. Tab and
newline are kept (a newline too is escaped where the output must stay one line).
A backslash is left alone, so `\\x1b` typed as text looks the same as an escaped ESC:
what is printed can mislead no terminal, which is the point.
"""

from __future__ import annotations

import re

_UNSAFE_CHARS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
"""C0 controls but tab and newline, DEL, C1 controls, bidi marks and overrides, lone surrogates."""
_UNSAFE = re.compile(f"[{_UNSAFE_CHARS}]")
_UNSAFE_ON_ONE_LINE = re.compile(f"[\n{_UNSAFE_CHARS}]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def terminal_safe(text: str, *, one_line: bool = False) -> str:
    """`text` with every character a terminal would act on written as a visible escape."""
    pattern = _UNSAFE_ON_ONE_LINE if one_line else _UNSAFE
    return pattern.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_terminal_safe(dumped: str) -> str:
    """JSON text with the same characters written as `\\uXXXX` escapes: still valid, same value.

    `json.dumps` escapes C0 controls itself; DEL, C1, bidi controls and lone surrogates
    (which it leaves raw with `ensure_ascii=False`) can only occur inside strings.
    """
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
