"""Turn a card's bytes into clean text: encodings, BOMs, newlines, mis-decoded UTF-8.

Cards in the wild arrive as UTF-8 that some tool decoded as Mac Roman or cp1252
and saved again (`🎯` became `üéØ`). That damage is exactly reversible run by
run: each maximal run of non-ASCII characters is re-encoded with the codec that
produced it and decoded as UTF-8. A run is only replaced when that decodes
cleanly, so text that was never broken (`café`, `—`, real emoji) stays as it is.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from orchestrator.errors import CardError

_NON_ASCII_RUN = re.compile(r"([^\x00-\x7f]+)")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})


def _reverse_table(codec: str) -> dict[str, int]:
    """Character -> byte for the upper half of a single-byte codec.

    cp1252 leaves five bytes undefined; decoders that met them anyway usually
    produced the C1 control with the same number, so those map back to
    themselves (as in latin-1).
    """
    table: dict[str, int] = {}
    for byte in range(0x80, 0x100):
        try:
            table[bytes([byte]).decode(codec)] = byte
        except UnicodeDecodeError:
            table[chr(byte)] = byte
    return table


_CODECS: tuple[tuple[str, dict[str, int]], ...] = (
    ("mac_roman", _reverse_table("mac_roman")),
    ("cp1252", _reverse_table("cp1252")),
)

_LEAD_LOST_BYTE = 0x9F
"""Second byte of every 4-byte emoji (U+1F000..U+1FFFF); its lead byte F0 is
U+F8FF in Mac Roman, a private-use character that copy and paste often drops."""


def _is_continuation(byte: int) -> bool:
    return 0x80 <= byte <= 0xBF


def _restore_lost_leads(raw: bytes) -> bytes:
    """Put back an F0 lead byte before each 9F that starts a sequence."""
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if 0xC2 <= byte <= 0xDF:
            length = 2
        elif 0xE0 <= byte <= 0xEF:
            length = 3
        elif 0xF0 <= byte <= 0xF4:
            length = 4
        elif (
            byte == _LEAD_LOST_BYTE
            and i + 2 < len(raw)
            and _is_continuation(raw[i + 1])
            and _is_continuation(raw[i + 2])
        ):
            out.append(0xF0)
            length = 3
        else:
            length = 1
        out += raw[i : i + length]
        i += length
    return bytes(out)


def _clean(text: str) -> bool:
    """True when decoded text holds no controls, surrogates, private use or unassigned code points.

    Unassigned code points in the emoji planes are allowed: emoji newer than this
    Python's Unicode tables are still emoji.
    """
    return all(
        unicodedata.category(ch) not in _BAD_CATEGORIES or 0x1F000 <= ord(ch) <= 0x1FFFF for ch in text
    )


def _repairs(run: str) -> dict[str, str]:
    """Every codec under which the run decodes cleanly, with the text it was meant to be."""
    options: dict[str, str] = {}
    for codec, table in _CODECS:
        try:
            raw = bytes(table[ch] for ch in run)
        except KeyError:
            continue
        candidates = [raw]
        if codec == "mac_roman":
            restored = _restore_lost_leads(raw)
            if restored != raw:
                candidates.append(restored)
        for candidate in candidates:
            try:
                fixed = candidate.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if _clean(fixed):
                options[codec] = fixed
                break
    return options


def _is_weak(fixed: str) -> bool:
    """A repair that yields one 2-byte character (`√©` -> `é`) is weak evidence:
    legitimate text such as `“é` can look the same."""
    return len(fixed) == 1 and ord(fixed) < 0x800


def repair_mojibake(text: str) -> tuple[str, dict[str, int]]:
    """Undo UTF-8-read-as-Mac-Roman/cp1252 damage; returns the text and repairs per codec.

    The codec is chosen by evidence: strong repairs (emoji, symbols, box drawing)
    show which codec broke the text, and weak ones (a single accented letter) are
    applied only with a codec that also has strong repairs in the same text.
    """
    if text.isascii():
        return text, {}
    parts = _NON_ASCII_RUN.split(text)
    runs = parts[1::2]
    options = {run: _repairs(run) for run in set(runs) if len(run) >= 2}
    evidence: dict[str, int] = {}
    for run in runs:
        for codec, fixed in options.get(run, {}).items():
            if not _is_weak(fixed):
                evidence[codec] = evidence.get(codec, 0) + 1
    if not evidence:
        return text, {}
    ranked = sorted(evidence, key=lambda codec: -evidence[codec])
    counts: dict[str, int] = {}
    for index in range(1, len(parts), 2):
        found = options.get(parts[index], {})
        best = next((c for c in ranked if c in found), None)
        if best is not None:
            parts[index] = found[best]
            counts[best] = counts.get(best, 0) + 1
    return "".join(parts), counts


def repair_warning(counts: dict[str, int]) -> str | None:
    """The one warning line a repaired card records (None when nothing was repaired)."""
    if not counts:
        return None
    total = sum(counts.values())
    codecs_used = ", ".join(counts)
    places = "place" if total == 1 else "places"
    return f"repaired mis-decoded text ({codecs_used}) in {total} {places}"


def _looks_utf16(data: bytes) -> str | None:
    """Guess BOM-less UTF-16 from NULs in every other byte of mostly-ASCII text."""
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.8 * half and even_nuls < 0.1 * half:
        return "utf-16-le"
    if even_nuls > 0.8 * half and odd_nuls < 0.1 * half:
        return "utf-16-be"
    return None


def decode_card_bytes(data: bytes, source: str) -> tuple[str, list[str]]:
    """Decode a card file: BOMs honoured, UTF-8 first, then UTF-16, cp1252, latin-1.

    Raises CardError for binary data (NUL bytes in something that is not UTF-16).
    """
    warnings: list[str] = []
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec), warnings
            except UnicodeDecodeError as exc:
                raise CardError(
                    f"starts with a {codec} byte-order mark but is not {codec}: {exc.reason}", source, 1
                ) from None
    try:
        return data.decode("utf-8"), warnings
    except UnicodeDecodeError:
        pass
    guess = _looks_utf16(data)
    if guess is not None:
        try:
            return data.decode(guess), [f"file has no byte-order mark; read it as {guess}"]
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise CardError("binary file (NUL bytes), not a markdown card", source, 1)
    try:
        return data.decode("cp1252"), ["file is not UTF-8; read it as cp1252"]
    except UnicodeDecodeError:
        return data.decode("latin-1"), ["file is not UTF-8; read it as latin-1"]


def normalise_text(text: str, source: str) -> str:
    """Drop a leading BOM, turn CRLF/CR into LF; NUL characters mean it is not a card."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise CardError("binary content (NUL characters), not a markdown card", source, 1)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
