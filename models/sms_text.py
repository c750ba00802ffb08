"""How a text becomes SMS parts: encoding, length and splitting.

An SMS carries 140 octets of user data. Two encodings matter here:

========  =========================  ===========  ==================
encoding  unit                       single SMS   per part (with UDH)
========  =========================  ===========  ==================
GSM 7     septet (3GPP TS 23.038)    160          153
UCS-2     UTF-16 code unit           70           67
========  =========================  ===========  ==================

A concatenated message spends 6 octets of every part on the user data header
(IEI 0x00, 8-bit reference), which leaves 153 septets or 67 UCS-2 units. A
character of the GSM extension table (``€ [ ] { } \\ ^ ~ |`` and form feed)
costs two septets (escape plus code) and is never split from its escape; a
character outside the Basic Multilingual Plane costs two UCS-2 units (a
surrogate pair) and is never split either.

:func:`choose_encoding` sends pure ASCII as GSM 7 and everything else (all
Chinese text) as UCS-2. Non-ASCII characters that GSM 7 could carry (``é``,
``£``) also go as UCS-2, so the text reaches the handset whatever character
conversion a gateway applies on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67
MAX_PARTS = 255

ESCAPE = 0x1B

# 3GPP TS 23.038 default alphabet, code point = position (0x1B is the escape).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Default extension table: character -> code after the escape.
GSM7_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC_CODE = {char: code for code, char in enumerate(GSM7_BASIC) if code != ESCAPE}


@dataclass(frozen=True)
class SmsParts:
    """The cost of a text as SMS: its encoding, length in units and part count."""

    encoding: Encoding
    units: int
    parts: int


def is_gsm7(text: str) -> bool:
    """Return True if every character of ``text`` exists in GSM 7 (basic or ext)."""
    return all(char in _BASIC_CODE or char in GSM7_EXTENSION for char in text)


def choose_encoding(text: str) -> Encoding:
    """Return ``"gsm7"`` for pure ASCII text that GSM 7 can carry, else ``"ucs2"``."""
    if text.isascii() and is_gsm7(text):
        return "gsm7"
    return "ucs2"


def char_units(char: str, encoding: Encoding) -> int:
    """Return the septets (GSM 7) or UTF-16 code units (UCS-2) of one character."""
    if encoding == "gsm7":
        if char in _BASIC_CODE:
            return 1
        if char in GSM7_EXTENSION:
            return 2
        raise ValueError(f"character {char!r} is not in the GSM 7 alphabet")
    return 2 if ord(char) > 0xFFFF else 1


def text_units(text: str, encoding: Encoding) -> int:
    """Return the length of ``text`` in septets (GSM 7) or UCS-2 code units."""
    return sum(char_units(char, encoding) for char in text)


def split_text(text: str, encoding: Encoding | None = None) -> list[str]:
    """Split ``text`` into the parts it is sent as.

    Parameters
    ----------
    text : str
        The message. An empty text is one empty part.
    encoding : {"gsm7", "ucs2"}, optional
        Defaults to :func:`choose_encoding`.

    Returns
    -------
    list of str
        One element if the text fits a single SMS (160 septets or 70 UCS-2
        units), otherwise parts of at most 153 septets or 67 units each, cut
        between characters only. Joining them gives ``text`` back.

    Raises
    ------
    ValueError
        If ``text`` needs more than 255 parts, or holds a character that the
        requested encoding cannot carry.
    """
    encoding = encoding or choose_encoding(text)
    single, per_part = (
        (GSM7_SINGLE, GSM7_PART) if encoding == "gsm7" else (UCS2_SINGLE, UCS2_PART)
    )
    if text_units(text, encoding) <= single:
        return [text]

    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        cost = char_units(char, encoding)
        if used + cost > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += cost
    parts.append("".join(current))

    if len(parts) > MAX_PARTS:
        raise ValueError(
            f"text of {len(text)} characters needs {len(parts)} SMS parts; "
            f"at most {MAX_PARTS} are possible"
        )
    return parts


def count_parts(text: str, encoding: Encoding | None = None) -> SmsParts:
    """Return the encoding, the length in units and the number of SMS parts."""
    encoding = encoding or choose_encoding(text)
    return SmsParts(
        encoding=encoding,
        units=text_units(text, encoding),
        parts=len(split_text(text, encoding)),
    )


def encode_gsm7(text: str) -> bytes:
    """Encode ``text`` as unpacked GSM 7 septets, one per octet (SMPP data_coding 0).

    Raises
    ------
    ValueError
        If a character is not in the GSM 7 alphabet.
    """
    out = bytearray()
    for char in text:
        if char in _BASIC_CODE:
            out.append(_BASIC_CODE[char])
        elif char in GSM7_EXTENSION:
            out += bytes((ESCAPE, GSM7_EXTENSION[char]))
        else:
            raise ValueError(f"character {char!r} is not in the GSM 7 alphabet")
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    """Decode unpacked GSM 7 septets (the inverse of :func:`encode_gsm7`)."""
    extension = {code: char for char, code in GSM7_EXTENSION.items()}
    chars: list[str] = []
    escaped = False
    for octet in data:
        if escaped:
            chars.append(extension.get(octet, " "))
            escaped = False
        elif octet == ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_BASIC[octet & 0x7F])
    return "".join(chars)


def encode_parts(text: str, reference: int) -> tuple[Encoding, list[bytes]]:
    """Return the encoding of ``text`` and the user data of each of its parts.

    GSM 7 is given as unpacked septets (one per octet), UCS-2 as UTF-16 BE.
    The parts of a concatenated text start with the 6-octet user data header
    ``05 00 03 <reference> <total> <sequence>`` (IEI 0x00, 8-bit reference);
    a text that fits one SMS has no header.

    Parameters
    ----------
    text : str
        The message.
    reference : int
        Concatenation reference; only its low 8 bits are used.
    """
    encoding = choose_encoding(text)
    chunks = split_text(text, encoding)

    def encode(chunk: str) -> bytes:
        return encode_gsm7(chunk) if encoding == "gsm7" else chunk.encode("utf-16-be")

    if len(chunks) == 1:
        return encoding, [encode(chunks[0])]
    header = bytes((5, 0, 3, reference & 0xFF, len(chunks)))
    return encoding, [
        header + bytes((n,)) + encode(chunk) for n, chunk in enumerate(chunks, start=1)
    ]
