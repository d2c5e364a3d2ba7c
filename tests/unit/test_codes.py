"""Credit codes, divisions, ethnicities, phones and legacy text."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicbus.schemas.standards import InvalidValue, division, ethnicity, phone, uscc
from civicbus.schemas.standards.text import decode_legacy

GOOD_USCC = "91110000600037341L"


def test_known_good_credit_code_and_legacy_spellings() -> None:
    assert uscc.normalize(GOOD_USCC) == GOOD_USCC
    assert uscc.normalize(" 9111 0000 6000 3734 1l ") == GOOD_USCC
    assert uscc.org_check_char("60003734") == "1"


def _body() -> st.SearchStrategy[str]:
    chars = st.sampled_from(uscc.CHARSET)
    digits = st.sampled_from("0123456789")
    org_chars = st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXY")
    return (
        st.tuples(
            st.sampled_from("159Y"),
            chars,
            st.lists(digits, min_size=6, max_size=6),
            st.lists(org_chars, min_size=8, max_size=8),
        )
        .map(lambda t: t[0] + t[1] + "".join(t[2]) + "".join(t[3]) + uscc.org_check_char("".join(t[3])))
        .filter(lambda s: s[16] in uscc.CHARSET)
    )


@given(_body())
def test_every_well_formed_code_round_trips_including_letter_authorities(first17: str) -> None:
    code = first17 + uscc.check_char(first17)
    assert uscc.normalize(code) == code


@given(_body(), st.integers(0, 17), st.sampled_from(uscc.CHARSET))
def test_any_single_character_substitution_is_caught(first17: str, pos: int, char: str) -> None:
    code = first17 + uscc.check_char(first17)
    corrupted = code[:pos] + char + code[pos + 1 :]
    if corrupted != code:
        with pytest.raises(InvalidValue):
            uscc.normalize(corrupted)


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("91110000600037341X", "check character"),
        ("9111000060003734IL", "outside the GB 32100 set"),
        ("911100006000373", "18 characters"),
        ("91110000600037351E", "organisation code check"),
    ],
)
def test_bad_credit_codes_say_why(bad: str, reason: str) -> None:
    if reason == "organisation code check":  # a code whose MOD 31 check is right but org check wrong
        bad = bad[:17] + uscc.check_char(bad[:17])
    with pytest.raises(InvalidValue, match=reason):
        uscc.normalize(bad)


def test_divisions_resolve_names_and_retired_codes() -> None:
    assert division.lookup("110108").name == "海淀区"
    old = division.lookup("110104")
    assert old.retired and old.successor == "110102" and old.name == "宣武区"
    assert division.lookup("110228").successor == "110118"
    assert division.lookup("320102").name is None  # well-formed, outside the shipped table
    beijing = [
        d
        for d in division.table().values()
        if d.code.startswith("11") and d.level == "county" and not d.retired
    ]
    assert len(beijing) == 16
    for bad, reason in [
        ("1101", "6 digits"),
        ("990101", "province"),
        ("110099", "county code needs"),
        ("118001", "city part"),
    ]:
        with pytest.raises(InvalidValue, match=reason):
            division.normalize(bad)


def test_all_56_ethnicities_and_their_variants() -> None:
    assert len(ethnicity.ETHNICITIES) == 56
    assert len({letters for _, letters in ethnicity.ETHNICITIES.values()}) == 56
    for value, code in [
        ("汉族", "01"),
        ("汉", "01"),
        ("HA", "01"),
        ("1", "01"),
        ("蒙古", "02"),
        ("ug", "05"),
        ("壮族", "08"),
        ("CS", "10"),
        ("满", "11"),
        ("基诺族", "56"),
        ("JN", "56"),
    ]:
        assert ethnicity.normalize(value) == code
    with pytest.raises(InvalidValue):
        ethnicity.normalize("57")


@pytest.mark.parametrize(
    "value,canonical",
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("010-62751234", "010-62751234"),
        ("(0755)12345678", "0755-12345678"),
        ("0571 8888888", "0571-8888888"),
        ("021-61234567转123", "021-61234567-123"),
    ],
)
def test_phone_numbers(value: str, canonical: str) -> None:
    assert phone.normalize(value) == canonical


@pytest.mark.parametrize("bad", ["1380013800", "12800138000", "62751234", "hello"])
def test_bad_phone_numbers(bad: str) -> None:
    with pytest.raises(InvalidValue):
        phone.normalize(bad)


def test_legacy_text_in_gbk_gb18030_and_utf8() -> None:
    assert decode_legacy("低保 王芳".encode("gbk")) == ("低保 王芳", "gb18030")
    assert decode_legacy("𠀀 rare".encode("gb18030")) == ("𠀀 rare", "gb18030")
    assert decode_legacy("\ufeff王芳".encode()) == ("王芳", "utf-8")
    with pytest.raises(InvalidValue):
        decode_legacy(b"\xff\xff\xff")
