"""The shipped connector files are safe to copy: streaming modes look behind their mark."""

from __future__ import annotations

import pytest
import yaml

from ..helpers import EXAMPLES


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_a_streaming_example_catches_rows_committed_late(path: object) -> None:
    source = yaml.safe_load(path.read_text(encoding="utf-8"))["source"]  # type: ignore[attr-defined]
    if source.get("type", "sql") != "sql" or source.get("mode", "incrementing") == "snapshot":
        return
    assert source.get("rescan_window", 0) > 0 or source.get("settle_s", 0) > 0, (
        "a late commit behind the mark would be lost without trace: set rescan_window (or settle_s)"
    )
