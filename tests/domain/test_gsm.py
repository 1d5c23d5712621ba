from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.gsm import MAX_SMS_PARTS, Segmentation, segment

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair in UTF-16


def test_alphabet_sizes() -> None:
    # 128 code points minus the escape; guards against typos in the test table itself.
    assert len(GSM_BASIC) == 127
    assert len(set(GSM_BASIC)) == 127


def test_max_parts() -> None:
    assert MAX_SMS_PARTS == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Segmentation("GSM-7", 0, 1)),
        ("a", Segmentation("GSM-7", 1, 1)),
        ("a" * 160, Segmentation("GSM-7", 160, 1)),
        ("a" * 161, Segmentation("GSM-7", 161, 2)),
        ("a" * 306, Segmentation("GSM-7", 306, 2)),
        ("a" * 307, Segmentation("GSM-7", 307, 3)),
        ("a" * 459, Segmentation("GSM-7", 459, 3)),
        ("a" * 460, Segmentation("GSM-7", 460, 4)),
        ("a" * 1530, Segmentation("GSM-7", 1530, 10)),
        ("a" * 1531, Segmentation("GSM-7", 1531, 11)),
        ("€", Segmentation("GSM-7", 2, 1)),
        ("€" * 80, Segmentation("GSM-7", 160, 1)),
        ("€" * 80 + "a", Segmentation("GSM-7", 161, 2)),
        ("a" * 159 + "€", Segmentation("GSM-7", 161, 2)),
        ("a" * 158 + "€", Segmentation("GSM-7", 160, 1)),
        # The escape pair would occupy septets 153 and 154: it moves whole to part 2.
        ("a" * 152 + "€" + "a" * 10, Segmentation("GSM-7", 164, 2)),
        # 152 + 2 + 152 = 306 septets would fit two parts if the pair could be split.
        ("a" * 152 + "€" + "a" * 152, Segmentation("GSM-7", 306, 3)),
        ("a" * 151 + "€" + "a" * 153, Segmentation("GSM-7", 306, 2)),
        (GSM_BASIC, Segmentation("GSM-7", 127, 1)),
        (GSM_EXTENSION, Segmentation("GSM-7", 20, 1)),
        ("Hello\r\nWorld", Segmentation("GSM-7", 12, 1)),
        ("ç", Segmentation("UCS-2", 1, 1)),  # only capital Ç is in GSM 03.38
        ("a" * 159 + "ç", Segmentation("UCS-2", 160, 3)),
        ("ж" * 70, Segmentation("UCS-2", 70, 1)),
        ("ж" * 71, Segmentation("UCS-2", 71, 2)),
        ("ж" * 134, Segmentation("UCS-2", 134, 2)),
        ("ж" * 135, Segmentation("UCS-2", 135, 3)),
        ("ж" * 670, Segmentation("UCS-2", 670, 10)),
        (EMOJI, Segmentation("UCS-2", 2, 1)),
        (EMOJI * 35, Segmentation("UCS-2", 70, 1)),
        (EMOJI * 35 + "a", Segmentation("UCS-2", 71, 2)),
        # The surrogate pair would occupy units 67 and 68: it moves whole to part 2.
        ("ж" * 66 + EMOJI + "ж" * 66, Segmentation("UCS-2", 134, 3)),
        ("ж" * 65 + EMOJI + "ж" * 67, Segmentation("UCS-2", 134, 2)),
        ("€" + "ж" * 69, Segmentation("UCS-2", 70, 1)),  # € is one UCS-2 unit
    ],
)
def test_segment(text: str, expected: Segmentation) -> None:
    assert segment(text) == expected


@pytest.mark.parametrize("char", list(GSM_BASIC))
def test_every_basic_char_is_one_septet(char: str) -> None:
    assert segment(char) == Segmentation("GSM-7", 1, 1)


@pytest.mark.parametrize("char", list(GSM_EXTENSION))
def test_every_extension_char_is_two_septets(char: str) -> None:
    assert segment(char) == Segmentation("GSM-7", 2, 1)


@pytest.mark.parametrize("char", ["`", "ç", "Á", "\t", "\u00a0", "\u200b", "中"])
def test_non_gsm_char_forces_ucs2(char: str) -> None:
    assert segment("abc" + char).encoding == "UCS-2"


_gsm_text = st.text(alphabet=GSM_BASIC + GSM_EXTENSION, max_size=700)
_any_text = st.text(max_size=400)


@given(_gsm_text)
def test_gsm_text_never_reports_ucs2(text: str) -> None:
    result = segment(text)
    assert result.encoding == "GSM-7"
    expected_units = sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
    assert result.units == expected_units


@given(_any_text)
def test_parts_grow_monotonically_with_length(text: str) -> None:
    parts = [segment(text[:end]).parts for end in range(len(text) + 1)]
    assert parts == sorted(parts)


@given(_any_text)
def test_parts_bounds(text: str) -> None:
    result = segment(text)
    per_part = 153 if result.encoding == "GSM-7" else 67
    single = 160 if result.encoding == "GSM-7" else 70
    assert result.parts >= 1
    if result.units <= single:
        assert result.parts == 1
    else:
        # Each unsplittable pair can waste at most one unit per part.
        assert -(-result.units // per_part) <= result.parts <= -(-result.units // (per_part - 1))


@pytest.mark.parametrize(
    ("text", "units", "parts"),
    [
        ("\uffff" * 70, 70, 1),  # the last BMP code point is one UTF-16 unit
        ("\U00010000" * 35, 70, 1),  # the first beyond it is two
        ("\U00010000" * 36, 72, 2),
    ],
)
def test_utf16_units_at_the_edge_of_the_bmp(text: str, units: int, parts: int) -> None:
    assert segment(text) == Segmentation("UCS-2", units, parts)
