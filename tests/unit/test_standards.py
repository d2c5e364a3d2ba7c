import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicbus.schemas.standards import InvalidValue, dates, gender, id_number


def test_known_good_example_from_domain_reference() -> None:
    assert id_number.normalize("11010519491231002X") == "11010519491231002X"
    assert id_number.birth_date("11010519491231002X") == dt.date(1949, 12, 31)
    assert id_number.gender_code("11010519491231002X") == "2"


@pytest.mark.parametrize(
    "legacy",
    [
        "11010519491231002x",
        " 110105 19491231 002X ",
        "１１０１０５１９４９１２３１００２Ｘ",
        "110105-19491231-002x",
    ],
)
def test_legacy_spellings_normalise(legacy: str) -> None:
    assert id_number.normalize(legacy) == "11010519491231002X"


def test_fifteen_digit_numbers_upgrade_with_computed_check() -> None:
    assert id_number.normalize("110105491231002") == "11010519491231002X"


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("110105194912310021", "check character"),
        ("11010519491331002X", "not a real date"),
        ("1101051949123100", "15-character"),
        ("", "15-character"),
    ],
)
def test_invalid_numbers_say_why(bad: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason):
        id_number.normalize(bad)


valid_first17 = st.builds(
    lambda area, d, seq: f"{area:06d}{d:%Y%m%d}{seq:03d}",
    st.integers(110000, 659999),
    st.dates(dt.date(1900, 1, 1), dt.date(2030, 12, 31)),
    st.integers(0, 999),
)


@given(valid_first17)
def test_any_valid_number_round_trips(first17: str) -> None:
    number = first17 + id_number.check_char(first17)
    assert id_number.normalize(number) == number


@given(valid_first17, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_single_character_corruption_is_caught(first17: str, pos: int, char: str) -> None:
    number = first17 + id_number.check_char(first17)
    corrupted = number[:pos] + char + number[pos + 1 :]
    if corrupted == number:
        return
    with pytest.raises(InvalidValue):
        id_number.normalize(corrupted)


@given(st.integers(110000, 659999), st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)), st.integers(0, 999))
def test_fifteen_to_eighteen_keeps_birth_and_gender(area: int, born: dt.date, seq: int) -> None:
    old = f"{area:06d}{born:%y%m%d}{seq:03d}"
    new = id_number.normalize(old)
    assert id_number.birth_date(new) == born
    assert id_number.gender_code(new) == ("1" if seq % 2 else "2")


@pytest.mark.parametrize(
    "text",
    [
        "20230501",
        "2023-05-01",
        "2023/5/1",
        "2023.5.1",
        "2023年5月1日",
        "2023-05-01 12:30:00",
        "２０２３年５月１日",
        "45047",
        45047,
    ],
)
def test_legacy_dates(text: object) -> None:
    assert dates.parse(text) == dt.date(2023, 5, 1)


@pytest.mark.parametrize("bad", ["2023-02-30", "23-5-1", "someday", "20231301"])
def test_bad_dates_are_rejected_with_reason(bad: str) -> None:
    with pytest.raises(InvalidValue):
        dates.parse(bad)


@pytest.mark.parametrize(
    "legacy,code",
    [
        ("男", "1"),
        ("女", "2"),
        ("M", "1"),
        ("f", "2"),
        ("1", "1"),
        ("2", "2"),
        ("male", "1"),
        ("Female", "2"),
        ("9", "9"),
    ],
)
def test_gender_variants(legacy: str, code: str) -> None:
    assert gender.normalize(legacy) == code


def test_gender_zero_is_unknown_unless_source_says_female() -> None:
    assert gender.normalize("0") == "0"
    assert gender.normalize("0", zero_means_female=True) == "2"
    with pytest.raises(InvalidValue, match="unknown gender"):
        gender.normalize("x")


def test_digits_of_other_scripts_are_an_invalid_value_not_a_crash() -> None:
    # str.isdigit and the regex \d take Arabic-Indic digits; the check character cannot
    with pytest.raises(InvalidValue, match="18 not only ASCII digits"):
        id_number.normalize("١١٠١٠١١٩٨١٠١٢٤٤٨٣٤")
    assert dates.parse("١٩٨١-٠١-٢٤") == dt.date(1981, 1, 24)
    assert dates.parse("19810124") == dt.date(1981, 1, 24)
    with pytest.raises(InvalidValue, match="not a real date"):
        dates.parse("19810230")
