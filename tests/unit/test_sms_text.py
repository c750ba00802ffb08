"""SMS encoding, length and splitting, against counts done by hand."""

from __future__ import annotations

import pytest

from models.sms_text import (
    choose_encoding,
    count_parts,
    decode_gsm7,
    encode_gsm7,
    encode_parts,
    is_gsm7,
    split_text,
)

CHINESE_90 = (
    "【演习】肇庆市气象台发布暴雨红色预警信号：预计未来三小时端州区、鼎湖区将出现"
    "一百毫米以上降雨，请立即转移到安全地带，远离河道和山坡，注意防范山洪、泥石流和"
    "城乡积涝灾害，学校应停课。"
)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("", "gsm7", 0, 1),
        ("A" * 160, "gsm7", 160, 1),
        ("A" * 161, "gsm7", 161, 2),  # 153 + 8
        ("A" * 306, "gsm7", 306, 2),  # 153 + 153
        ("A" * 307, "gsm7", 307, 3),
        ("[" * 80, "gsm7", 160, 1),  # extension: 2 septets each
        ("[" * 81, "gsm7", 162, 2),  # 76 + 5 characters (152 + 10 septets)
        ("雨" * 70, "ucs2", 70, 1),
        ("雨" * 71, "ucs2", 71, 2),  # 67 + 4
        ("雨" * 134, "ucs2", 134, 2),
        ("雨" * 135, "ucs2", 135, 3),
        (CHINESE_90, "ucs2", 90, 2),
        ("\U0001f300" * 35, "ucs2", 70, 1),  # surrogate pairs: 2 units each
        ("\U0001f300" * 36, "ucs2", 72, 2),
    ],
)
def test_count_parts(text: str, encoding: str, units: int, parts: int):
    counted = count_parts(text)
    assert (counted.encoding, counted.units, counted.parts) == (encoding, units, parts)


def test_split_cuts_at_the_part_sizes_and_joins_back():
    parts = split_text(CHINESE_90)
    assert [len(p) for p in parts] == [67, 23]
    assert "".join(parts) == CHINESE_90
    assert [len(p) for p in split_text("A" * 307)] == [153, 153, 1]


def test_split_never_separates_an_escape_or_a_surrogate_pair():
    assert [len(p) for p in split_text("[" * 81)] == [76, 5]
    # 36 characters outside the BMP: 33 per part (66 units), not 33.5.
    parts = split_text("\U0001f300" * 36)
    assert [len(p) for p in parts] == [33, 3]


def test_only_pure_gsm_ascii_goes_as_gsm():
    assert choose_encoding("EWS drill {red}") == "gsm7"
    assert choose_encoding("back`tick") == "ucs2"  # ` is not in GSM 7
    assert is_gsm7("café £5") and choose_encoding("café £5") == "ucs2"
    assert choose_encoding("暴雨") == "ucs2"


def test_gsm7_septets_by_the_3gpp_table():
    assert encode_gsm7("@£$") == b"\x00\x01\x02"
    assert encode_gsm7("A_a") == b"\x41\x11\x61"
    assert encode_gsm7("€[") == b"\x1b\x65\x1b\x3c"
    assert decode_gsm7(encode_gsm7("Hi {all} @ 5€")) == "Hi {all} @ 5€"
    with pytest.raises(ValueError, match="not in the GSM 7 alphabet"):
        encode_gsm7("雨")


def test_encode_parts_adds_the_concatenation_header():
    encoding, payloads = encode_parts("A" * 161, reference=0x1234)
    assert encoding == "gsm7"
    assert payloads[0][:6] == bytes.fromhex("050003340201")
    assert payloads[1] == bytes.fromhex("050003340202") + b"A" * 8
    encoding, payloads = encode_parts("雨雨", reference=7)
    assert (encoding, payloads) == ("ucs2", ["雨雨".encode("utf-16-be")])


def test_more_than_255_parts_is_refused():
    with pytest.raises(ValueError, match="at most 255"):
        split_text("A" * (153 * 255 + 1))
