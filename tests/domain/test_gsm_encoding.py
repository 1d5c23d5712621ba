"""GSM 03.38 / UCS-2 encoding of SMS parts as SMPP carries them (SPEC §2, §11.2; issue 11):
the bytes of known characters, the concatenation headers, and, for any text, parts that are
exactly as many as `segment` counts and that decode back to the text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.gsm import EncodedSms, decode_short_message, encode, segment

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"


@pytest.mark.parametrize(
    ("text", "data_coding", "body"),
    [
        ("", 0, b""),
        ("@", 0, b"\x00"),
        ("Hi!", 0, b"Hi!"),
        ("£$¥", 0, b"\x01\x02\x03"),
        ("Δ_Φ", 0, b"\x10\x11\x12"),
        ("ÆæßÉ", 0, b"\x1c\x1d\x1e\x1f"),  # after the escape's place, 0x1b
        ("¡§¿à", 0, b"\x40\x5f\x60\x7f"),
        ("€", 0, b"\x1b\x65"),
        ("[~]|", 0, b"\x1b\x3c\x1b\x3d\x1b\x3e\x1b\x40"),
        ("\f^{}\\", 0, b"\x1b\x0a\x1b\x14\x1b\x28\x1b\x29\x1b\x2f"),
        ("日本", 8, "日本".encode("utf-16-be")),
        ("a€日", 8, b"\x00a\x20\xac\x65\xe5"),  # one non-GSM character: all UCS-2
        ("\U0001f600", 8, b"\xd8\x3d\xde\x00"),  # a surrogate pair
    ],
)
def test_one_part_texts(text: str, data_coding: int, body: bytes) -> None:
    assert encode(text, reference=7) == EncodedSms(data_coding, (body,))


def test_each_basic_character_is_its_position_in_the_table() -> None:
    codes = encode(GSM_BASIC[:100], reference=0).parts[0] + encode(GSM_BASIC[100:], 0).parts[0]
    assert list(codes) == [code for code in range(128) if code != 0x1B]


@pytest.mark.parametrize(
    ("text", "sizes"),
    [
        ("a" * 160, [160]),  # one part, no header
        ("a" * 161, [6 + 153, 6 + 8]),
        ("a" * 306, [6 + 153, 6 + 153]),
        ("a" * 307, [6 + 153, 6 + 153, 6 + 1]),
        # An escape sequence never straddles two parts: the € starts the second.
        ("a" * 152 + "€" + "b" * 10, [6 + 152, 6 + 12]),
        ("日" * 70, [140]),
        ("日" * 71, [6 + 134, 6 + 8]),
        # A surrogate pair never straddles two parts either.
        ("日" * 66 + "\U0001f600" + "日" * 4, [6 + 132, 6 + 12]),
    ],
)
def test_long_texts_are_concatenated_parts(text: str, sizes: list[int]) -> None:
    parts = encode(text, reference=0x2A).parts
    assert [len(p) for p in parts] == sizes
    if len(parts) > 1:
        headers = [p[:6] for p in parts]
        assert headers == [bytes((5, 0, 3, 0x2A, len(parts), n)) for n in range(1, len(parts) + 1)]


@pytest.mark.parametrize("reference", [-1, 256, 1000])
def test_a_reference_is_one_byte(reference: int) -> None:
    with pytest.raises(ValueError, match="0 to 255"):
        encode("a" * 200, reference)


def _decode(encoded: EncodedSms) -> str:
    """The text back from the parts (the receiving handset's work)."""
    bodies = [p[6:] for p in encoded.parts] if len(encoded.parts) > 1 else list(encoded.parts)
    if encoded.data_coding == 8:
        return b"".join(bodies).decode("utf-16-be")
    basic = {code: ch for code, ch in enumerate(GSM_BASIC[:27] + "\x1b" + GSM_BASIC[27:])}
    extension = {
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x65: "€",
    }
    text, data = [], b"".join(bodies)
    i = 0
    while i < len(data):
        if data[i] == 0x1B:
            text.append(extension[data[i + 1]])
            i += 2
        else:
            text.append(basic[data[i]])
            i += 1
    return "".join(text)


texts = st.one_of(
    st.text(alphabet=GSM_BASIC + GSM_EXTENSION, max_size=1600),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=700),
)


@given(texts, st.integers(min_value=0, max_value=255))
def test_parts_are_as_many_as_segment_counts_and_decode_to_the_text(
    text: str, reference: int
) -> None:
    encoded = encode(text, reference)
    segmentation = segment(text)
    assert len(encoded.parts) == segmentation.parts
    assert encoded.data_coding == (0 if segmentation.encoding == "GSM-7" else 8)
    assert _decode(encoded) == text
    limit = 160 if encoded.data_coding == 0 else 140
    assert all(len(part) <= limit for part in encoded.parts)


@given(texts, st.integers(min_value=0, max_value=255))
def test_each_part_decodes_as_a_handset_would(text: str, reference: int) -> None:
    encoded = encode(text, reference)
    esm_class = 0x40 if len(encoded.parts) > 1 else 0
    decoded = "".join(
        decode_short_message(part, data_coding=encoded.data_coding, esm_class=esm_class)
        for part in encoded.parts
    )
    assert decoded == text


@pytest.mark.parametrize(
    ("data", "data_coding", "esm_class", "text"),
    [
        (b"Hi \x1b\x65", 0, 0, "Hi €"),
        (b"\x80\xff", 0, 0, "\ufffd\ufffd"),  # not septets
        (b"a\x1b", 0, 0, "a\ufffd"),  # an escape with nothing after it
        (b"a\x1b\x00", 0, 0, "a\ufffd"),  # an escape to nothing the extension table has
        (b"\x05\x00\x03\x2a\x02\x01Hi", 0, 0x40, "Hi"),  # the header skipped
        (b"\x05\x00\x03", 0, 0x40, ""),  # a header longer than the message
        (b"\x00H\x00i", 8, 0, "Hi"),
        (b"\x00H\xd8", 8, 0, "H\ufffd"),  # an odd byte, a lone surrogate half
        (b"caf\xe9", 3, 0, "café"),
        (b"caf\xe9", 1, 0, "caf\ufffd"),
        (b"caf\xc3\xa9", 1, 0, "caf\ufffd\ufffd"),  # ASCII, not UTF-8
        (b"caf\xe9", 4, 0, "café"),  # 8-bit data: read as Latin-1
    ],
)
def test_decode_short_message(data: bytes, data_coding: int, esm_class: int, text: str) -> None:
    assert decode_short_message(data, data_coding=data_coding, esm_class=esm_class) == text


@given(st.binary(max_size=300), st.integers(0, 255), st.integers(0, 255))
def test_decoding_never_raises(data: bytes, data_coding: int, esm_class: int) -> None:
    assert isinstance(decode_short_message(data, data_coding=data_coding, esm_class=esm_class), str)


def test_at_most_255_parts_fit_a_concatenation_header() -> None:
    assert len(encode("a" * 153 * 255, reference=1).parts) == 255
    with pytest.raises(ValueError, match="256 parts do not fit an 8-bit concatenation header"):
        encode("a" * 153 * 256, reference=1)
