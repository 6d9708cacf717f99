"""SMS text encoding: the GSM 03.38 alphabet, UCS-2, part limits, user data headers, reassembly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smpplib import gsm as smpplib_gsm

from memoguard.adapters.smpp import udh
from memoguard.adapters.smpp.encoding import (
    GSM,
    UCS2,
    MessageTooLong,
    decode,
    decode_gsm,
    encode,
    is_gsm,
    septets,
)

GSM_TEXT = st.text(
    alphabet=st.sampled_from(
        list("@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà^{}\\[~]|€\f")
    )
)


@pytest.mark.parametrize(
    ("char", "octets"),
    [
        ("@", b"\x00"),
        ("é", b"\x05"),
        ("Ç", b"\x09"),
        ("_", b"\x11"),
        ("§", b"\x5f"),
        ("¿", b"\x60"),
        ("à", b"\x7f"),
        ("€", b"\x1b\x65"),
        ("[", b"\x1b\x3c"),
        ("|", b"\x1b\x40"),
        ("\f", b"\x1b\x0a"),
    ],
)
def test_gsm_codes_follow_the_standard(char: str, octets: bytes) -> None:
    assert encode(char).data_coding == GSM
    assert encode(char).parts == (octets,)


def test_the_table_agrees_with_smpplibs_wherever_smpplib_has_a_character() -> None:
    # smpplib's table is a second transcription of TS 23.038 (with "`" where it has none): basic codes
    # below 0x80, extension codes as 0x80 + code.
    for code, char in enumerate(smpplib_gsm.GSM_CHARACTER_TABLE):
        if char == "`" or code == 0x1B:
            continue
        expected = bytes((code,)) if code < 0x80 else bytes((0x1B, code - 0x80))
        assert encode(char).parts == (expected,), f"{char!r} at 0x{code:02x}"


@pytest.mark.parametrize(
    ("text", "gsm"),
    [
        ("Incident résolu", True),
        ("Ça marche", True),  # capital Ç is 0x09
        ("ça marche", False),  # lower-case ç is not in the default alphabet
        ("Coût: 12 € [db1]", False),  # û is not either
        ("Cost: 12 € [db1] {x} ~ ^ | \\", True),
        ("Incident 😀", False),
        ("", True),
    ],
)
def test_alphabet_choice(text: str, gsm: bool) -> None:
    assert is_gsm(text) is gsm
    assert encode(text).data_coding == (GSM if gsm else UCS2)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, [160]),
        ("a" * 161, [153, 8]),
        ("a" * 306, [153, 153]),
        ("a" * 307, [153, 153, 1]),
        ("€" * 80, [160]),  # 160 septets
        ("€" * 81, [152, 10]),  # 76 pairs fill 152 septets: a pair never straddles two parts
        ("a" * 152 + "€" + "b" * 10, [152, 12]),
    ],
)
def test_gsm_part_sizes(text: str, parts: list[int]) -> None:
    assert [len(part) for part in encode(text).parts] == parts


def test_an_escape_pair_at_a_part_boundary_moves_whole_to_the_next_part() -> None:
    first, second = encode("a" * 152 + "€" + "b" * 10).parts
    assert first == b"a" * 152
    assert second == b"\x1b\x65" + b"b" * 10


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("ç" * 70, [70]),
        ("ç" * 71, [67, 4]),
        ("ç" * 134, [67, 67]),
        ("ç" * 135, [67, 67, 1]),
        ("😀" * 35, [70]),  # 35 surrogate pairs, 70 units
        ("ç" * 66 + "😀" + "x" * 10, [66, 12]),  # the pair would straddle units 67 and 68
    ],
)
def test_ucs2_part_sizes(text: str, units: list[int]) -> None:
    encoded = encode(text)
    assert encoded.data_coding == UCS2
    assert [len(part) // 2 for part in encoded.parts] == units
    for part in encoded.parts:
        part.decode("utf-16-be")  # strict: no part holds half a surrogate pair


def test_too_many_parts() -> None:
    encode("a" * 153 * 255)
    with pytest.raises(MessageTooLong, match="256 SMS parts, more than the 255"):
        encode("a" * (153 * 255 + 1))


@given(GSM_TEXT)
def test_gsm_round_trip(text: str) -> None:
    encoded = encode(text)
    assert encoded.data_coding == GSM
    assert decode(b"".join(encoded.parts), GSM) == text
    assert all(septets(decode_gsm(part)) <= (160 if len(encoded.parts) == 1 else 153) for part in encoded.parts)


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=400))
def test_any_text_round_trip(text: str) -> None:
    encoded = encode(text)
    assert "".join(decode(part, encoded.data_coding) for part in encoded.parts) == text


@pytest.mark.parametrize(
    ("data", "data_coding", "text"),
    [
        (b"12a ok", 0x00, "12a ok"),
        (b"r\x05solu \x1b\x65", 0x00, "résolu €"),
        (b"\x1b\x41", 0x00, "A"),  # an escape to an empty extension code shows the basic character
        (b"Re\xe7u", 0x00, "Reçu"),  # octets above 0x7F: an SMSC whose default alphabet is Latin-1
        (b"Re\xe7u", 0x03, "Reçu"),
        (b"ok", 0x01, "ok"),
        ("Reçu 😀".encode("utf-16-be"), 0x08, "Reçu 😀"),
        (b"\x00a\xd8", 0x08, "a\ufffd"),  # an odd length is shown, not raised
        (b"ok", 0xF0, "ok"),  # GSM-7 with a message class
        ("ok".encode("utf-16-be"), 0x18, "ok"),  # general coding group, UCS-2 with a message class
    ],
)
def test_decode(data: bytes, data_coding: int, text: str) -> None:
    assert decode(data, data_coding) == text


def test_concatenation_header() -> None:
    assert udh.concatenation(7, 3, 2) == b"\x05\x00\x03\x07\x03\x02"
    with pytest.raises(ValueError, match="part 4 of 3"):
        udh.concatenation(7, 3, 4)


@pytest.mark.parametrize(
    ("data", "concat", "payload"),
    [
        (b"\x05\x00\x03\x07\x03\x02hello", udh.Concatenation(7, 3, 2), b"hello"),
        (b"\x06\x08\x04\x01\x02\x03\x01hello", udh.Concatenation(0x0102, 3, 1), b"hello"),
        # a port addressing element first, then the concatenation: the other element is skipped
        (b"\x0b\x05\x04\x0b\x84\x23\xf0\x00\x03\x07\x02\x01hi", udh.Concatenation(7, 2, 1), b"hi"),
        (b"\x06\x05\x04\x0b\x84\x23\xf0hi", None, b"hi"),
        (b"\x05\x00\x03\x07\x00\x01hi", None, b"hi"),  # a count of zero voids the element
        (b"\x05\x00\x03\x07\x02\x03hi", None, b"hi"),  # so does a part number past the count
    ],
)
def test_split_header(data: bytes, concat: udh.Concatenation | None, payload: bytes) -> None:
    assert udh.split(data) == (concat, payload)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "is empty"),
        (b"\x09\x00\x03\x07", "announces 9 octets, the message has 3"),
        (b"\x03\x00\x03\x07", "announces 3 octets, has 1"),
        (b"\x01\x00", "cut short"),
    ],
)
def test_bad_headers(data: bytes, error: str) -> None:
    with pytest.raises(udh.HeaderError, match=error):
        udh.split(data)
