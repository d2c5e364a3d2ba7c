"""Ethnicity, GB/T 3304-1991: codes 01-56 with names and two-letter romanised codes."""

from __future__ import annotations

from .errors import InvalidValue
from .text import half_width

ETHNICITIES: dict[str, tuple[str, str]] = {
    "01": ("汉族", "HA"),
    "02": ("蒙古族", "MG"),
    "03": ("回族", "HU"),
    "04": ("藏族", "ZA"),
    "05": ("维吾尔族", "UG"),
    "06": ("苗族", "MH"),
    "07": ("彝族", "YI"),
    "08": ("壮族", "ZH"),
    "09": ("布依族", "BY"),
    "10": ("朝鲜族", "CS"),
    "11": ("满族", "MA"),
    "12": ("侗族", "DO"),
    "13": ("瑶族", "YA"),
    "14": ("白族", "BA"),
    "15": ("土家族", "TJ"),
    "16": ("哈尼族", "HN"),
    "17": ("哈萨克族", "KZ"),
    "18": ("傣族", "DA"),
    "19": ("黎族", "LI"),
    "20": ("傈僳族", "LS"),
    "21": ("佤族", "VA"),
    "22": ("畲族", "SH"),
    "23": ("高山族", "GS"),
    "24": ("拉祜族", "LH"),
    "25": ("水族", "SU"),
    "26": ("东乡族", "DX"),
    "27": ("纳西族", "NX"),
    "28": ("景颇族", "JP"),
    "29": ("柯尔克孜族", "KG"),
    "30": ("土族", "TU"),
    "31": ("达斡尔族", "DU"),
    "32": ("仫佬族", "ML"),
    "33": ("羌族", "QI"),
    "34": ("布朗族", "BL"),
    "35": ("撒拉族", "SL"),
    "36": ("毛南族", "MN"),
    "37": ("仡佬族", "GL"),
    "38": ("锡伯族", "XB"),
    "39": ("阿昌族", "AC"),
    "40": ("普米族", "PM"),
    "41": ("塔吉克族", "TA"),
    "42": ("怒族", "NU"),
    "43": ("乌孜别克族", "UZ"),
    "44": ("俄罗斯族", "RS"),
    "45": ("鄂温克族", "EW"),
    "46": ("德昂族", "DE"),
    "47": ("保安族", "BN"),
    "48": ("裕固族", "YG"),
    "49": ("京族", "GI"),
    "50": ("塔塔尔族", "TT"),
    "51": ("独龙族", "DR"),
    "52": ("鄂伦春族", "OR"),
    "53": ("赫哲族", "HZ"),
    "54": ("门巴族", "MB"),
    "55": ("珞巴族", "LB"),
    "56": ("基诺族", "JN"),
}
_LOOKUP: dict[str, str] = {}
for _code, (_name, _letters) in ETHNICITIES.items():
    _LOOKUP.update(
        {_code: _code, str(int(_code)): _code, _name: _code, _name.removesuffix("族"): _code, _letters: _code}
    )


def normalize(value: object) -> str:
    """The two-digit code of a legacy value: ``01``, ``1``, ``汉族``, ``汉`` or ``HA``."""
    text = half_width(str(value)).strip().upper()
    try:
        return _LOOKUP[text]
    except KeyError:
        raise InvalidValue(f"unknown ethnicity {value!r}") from None
