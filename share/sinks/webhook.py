"""``civicbus sink webhook``: each record of an app's projection POSTed to the app's URL.

Contract:
- one POST per record, body ``{"topic", "partition", "offset", "key", "value"}`` (JSON, dates as
  ISO text), headers ``X-Civicbus-Signature: sha256=<hex HMAC-SHA256 of the body under the
  app's secret>`` and ``X-Civicbus-Delivery: <topic>/<partition>/<offset>``, the same on every
  retry so the receiver can drop a repeat;
- a 2xx is delivered; a 429, a 5xx, a timeout or a refused connection is retried after a delay
  doubling from ``first_retry_s`` up to 30 s, ``attempts`` tries in all; any other answer (a
  4xx: the receiver will never take it) and the last failed try send the record to
  ``civicbus.share.<app>.deadletters`` with the reason, and the sink goes on;
- at most ``rate_per_s`` requests a second (a token bucket), retries included;
- offsets are committed (group ``<app>.webhook``) only for records delivered or dead-lettered,
  so a crash repeats at most the records since the last commit, never loses one: at least once,
  with the delivery header for the receiver to make it once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any

import requests
import structlog

from civicbus.core.backoff import Backoff
from civicbus.core.deadletter import DeadLetter
from civicbus.core.kafka import producer

from ..access import dead_letters
from ..subscribe import Record, Subscription
from .settings import SinkSettings

log = structlog.get_logger(__name__)
COMMIT_EVERY_S = 1.0


def signature(secret: bytes, body: bytes) -> str:
    """The signature header's value; a receiver compares it with ``hmac.compare_digest``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class TokenBucket:
    """``rate`` tokens a second, ``rate`` at most in hand; :meth:`take` waits for one."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._at = time.monotonic()

    def take(self, stop: threading.Event) -> None:
        while True:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            if stop.wait((1 - self._tokens) / self.rate):
                return


class WebhookSink:
    """Runs until ``stop`` is set; the record in hand is finished (delivered or dead-lettered)
    unless the stop comes during its retries, when it is left for the next run."""

    def __init__(self, settings: SinkSettings) -> None:
        if settings.url is None or settings.secret is None:
            raise ValueError(
                "CIVICBUS_SINK_URL and CIVICBUS_SINK_SECRET (or _SECRET_FILE) are needed for a webhook"
            )
        self.settings = settings
        self.url = settings.url
        self._secret = settings.secret.get_secret_value().encode()
        self._bucket = TokenBucket(settings.rate_per_s)
        self._http = requests.Session()
        self._letters = dead_letters(settings.app)

    def run(self, stop: threading.Event) -> None:
        s = self.settings
        subscription = Subscription(
            s.app, s.view, group="webhook", bootstrap_servers=s.bootstrap_servers, registry_url=s.registry_url
        )
        letters = producer(s.bootstrap_servers, "webhook dead letters", stop)
        log.info("sink.started", sink=f"{s.app}/{s.view}", url=self.url)
        committed = time.monotonic()
        try:
            while not stop.is_set():
                record = subscription.poll(0.5)
                if record is not None and not self._deliver(record, letters, stop):
                    break  # stopped mid-retry: not committed, delivered again next run
                if time.monotonic() - committed >= COMMIT_EVERY_S:
                    letters.flush()
                    subscription.commit()
                    committed = time.monotonic()
            letters.flush()
            subscription.commit()
        finally:
            subscription.close()
            letters.close()
            self._http.close()
            log.info("sink.stopped", sink=f"{s.app}/{s.view}")

    def _deliver(self, record: Record, letters: Any, stop: threading.Event) -> bool:
        """Deliver or dead-letter ``record``; False when ``stop`` came first."""
        body = json.dumps(
            {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "key": record.key,
                "value": record.value,
            },
            ensure_ascii=False,
            default=str,
            sort_keys=True,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Civicbus-Signature": signature(self._secret, body),
            "X-Civicbus-Delivery": f"{record.topic}/{record.partition}/{record.offset}",
        }
        waits = Backoff(cap_s=30.0, first_s=self.settings.first_retry_s)
        reason = ""
        for attempt in range(1, self.settings.attempts + 1):
            self._bucket.take(stop)
            if stop.is_set():
                return False
            try:
                answer = self._http.post(
                    self.url, data=body, headers=headers, timeout=self.settings.timeout_s
                )
            except requests.RequestException as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= answer.status_code < 300:
                    return True
                reason = f"HTTP {answer.status_code}: {answer.text[:200]}"
                if answer.status_code != 429 and answer.status_code < 500:
                    break  # the receiver refuses it: retrying changes nothing
            if attempt < self.settings.attempts:
                delay = waits.next_delay()
                log.info(
                    "sink.retry", delivery=headers["X-Civicbus-Delivery"], reason=reason, retry_in_s=delay
                )
                if stop.wait(delay):
                    return False
        self._dead_letter(record, body, reason, letters)
        return True

    def _dead_letter(self, record: Record, body: bytes, reason: str, letters: Any) -> None:
        where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
        letter = DeadLetter(
            origin=f"webhook:{self.settings.app}",
            origin_kind="sink",
            source=where,
            key={"value": str(record.key)},
            position=where,
            field="(record)",
            reason=f"not delivered to {self.url}: {reason}",
            payload=body,
        )
        log.warning("sink.dead_letter", reason=reason, **where)
        key, value, headers = letter.encode()
        letters.send(self._letters, value=value, key=key, headers=headers).get(timeout=60)
