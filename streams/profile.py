"""Pure logic of the unified resident view: fold one change event into a profile.

Kept apart from faust so it is tested with plain dicts. A profile holds the household-registration
record (if any) and the civil-affairs subsidies by ``subsidy_id``; ``departments`` and
``discrepancies`` are derived from those, so the order in which events arrive does not matter.
"""

from __future__ import annotations

import time
from typing import Any

Profile = dict[str, Any]
REGISTRATION = "registration"
SUBSIDY = "subsidy"


def empty(id_number: str) -> Profile:
    return {
        "id_number": id_number,
        "registration": None,
        "subsidies": [],
        "departments": [],
        "discrepancies": [],
        "updated_ms": 0,
    }


def apply(
    profile: Profile, part: str, event: dict[str, Any] | None, now_ms: int | None = None
) -> Profile | None:
    """The profile after ``event`` (an envelope, or None for a tombstone) of kind ``part``.

    Returns None when the profile no longer holds anything (the view then gets a tombstone).
    For a subsidy tombstone the caller passes an envelope with ``op='d'`` and ``before`` set.
    """
    out = dict(profile)
    after = event.get("after") if event and event.get("op") != "d" else None
    if part == REGISTRATION:
        out["registration"] = after
    else:
        gone = after or (event or {}).get("before")
        subsidy_id = gone["subsidy_id"] if gone else None
        kept = [s for s in out["subsidies"] if s["subsidy_id"] != subsidy_id]
        out["subsidies"] = sorted([*kept, after] if after else kept, key=lambda s: s["subsidy_id"])
    if out["registration"] is None and not out["subsidies"]:
        return None
    out["departments"] = sorted(
        ({"公安"} if out["registration"] else set()) | ({"民政"} if out["subsidies"] else set())
    )
    out["discrepancies"] = discrepancies(out)
    out["updated_ms"] = now_ms if now_ms is not None else int(time.time() * 1000)
    return out


def discrepancies(profile: Profile) -> list[str]:
    """Items on which civil affairs disagrees with household registration."""
    reg = profile["registration"]
    if not reg:
        return []
    found = set()
    for sub in profile["subsidies"]:
        for item in ("name", "gender_code", "birth_date"):
            if sub.get(item) is not None and sub[item] != reg.get(item):
                found.add(f"{item}: 公安={reg.get(item)} 民政={sub[item]} ({sub['subsidy_id']})")
    return sorted(found)
