"""Progress of a bounded pass (a snapshot): a Prometheus gauge always, a bar on a terminal.

The bar is drawn only when stderr is a terminal, so logs collected by a supervisor stay JSON.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from civicbus.ops import metrics

if TYPE_CHECKING:
    from tqdm import tqdm


class Progress:
    def __init__(self, connector: str) -> None:
        self._connector = connector
        self._bar: tqdm[Any] | None = None

    def update(self, progress: tuple[int, int] | None) -> None:
        """Call after each batch with the source's progress (None once the pass is over)."""
        if progress is None:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            return
        done, total = progress
        metrics.CONNECTOR_SNAPSHOT_ROWS.labels(self._connector).set(done)
        metrics.CONNECTOR_SNAPSHOT_TOTAL.labels(self._connector).set(total)
        if not sys.stderr.isatty():
            return
        if self._bar is None:
            from tqdm import tqdm  # a terminal only: a connector under a supervisor never loads it

            self._bar = tqdm(total=total, desc=f"{self._connector} snapshot", unit="row", file=sys.stderr)
        bar = self._bar
        bar.total = total
        bar.update(done - bar.n)
