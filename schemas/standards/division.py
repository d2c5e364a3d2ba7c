"""Administrative division codes, GB/T 2260: six digits, three pairs (province, city, county).

Structure is checked for any code; names come from the shipped table
(``data/gb2260_*.csv``: all of Beijing, with its retired codes). A retired code stays resolvable:
it is reported with its successor, never as unknown, because old records keep old codes.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .errors import InvalidValue
from .text import half_width

PROVINCES = {
    "11",
    "12",
    "13",
    "14",
    "15",
    "21",
    "22",
    "23",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "41",
    "42",
    "43",
    "44",
    "45",
    "46",
    "50",
    "51",
    "52",
    "53",
    "54",
    "61",
    "62",
    "63",
    "64",
    "65",
    "71",
    "81",
    "82",
}
_SHAPE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Division:
    code: str
    name: str | None
    retired: bool = False
    successor: str | None = None
    note: str = ""

    @property
    def level(self) -> str:
        if self.code.endswith("0000"):
            return "province"
        return "city" if self.code.endswith("00") else "county"


@cache
def table() -> dict[str, Division]:
    found: dict[str, Division] = {}
    for entry in resources.files("civicbus.schemas.standards.data").iterdir():
        if entry.name.startswith("gb2260_") and entry.name.endswith(".csv"):
            for row in csv.DictReader(entry.read_text(encoding="utf-8").splitlines()):
                found[row["code"]] = Division(
                    row["code"],
                    row["name"],
                    row["status"] == "retired",
                    row["successor"] or None,
                    row["note"],
                )
    return found


def check_structure(code: str) -> None:
    if not _SHAPE.match(code):
        raise InvalidValue(f"a division code has 6 digits: {code!r}")
    province, city, county = code[:2], code[2:4], code[4:]
    if province not in PROVINCES:
        raise InvalidValue(f"{province} is not a province code")
    if city == "00" and county != "00":
        raise InvalidValue("a county code needs a city part")
    if city != "00" and not ("01" <= city <= "70" or city == "90"):
        raise InvalidValue(f"city part {city} is outside 01-70 and 90")


def lookup(value: str) -> Division:
    """The division ``value`` names. Unknown but well-formed codes return ``name=None``."""
    code = half_width(str(value)).strip()
    check_structure(code)
    return table().get(code) or Division(code, None)


def normalize(value: str) -> str:
    """The code itself if well-formed (retired codes included: old records keep them)."""
    return lookup(value).code
