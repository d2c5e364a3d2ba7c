"""The supervisor: a crashed connector is restarted with backoff; one bad file never stops the rest."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from civicbus.connectors.plan import Plan, load_plan
from civicbus.connectors.supervisor import Supervisor

from ..helpers import EXAMPLES


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CIVICBUS_DEMO_DIR", str(tmp_path))
    deployment = tmp_path / "connectors.d"
    deployment.mkdir()
    for example in ("gongan-hukou.yaml", "minzheng-subsidy.yaml"):
        shutil.copy(EXAMPLES / example, deployment / example)
    return deployment


def wait_for(condition: object, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


class Runs:
    """A fake connector run: crashes ``crashes[name]`` times, then runs until stopped."""

    def __init__(self, crashes: dict[str, int]) -> None:
        self.crashes = Counter(crashes)
        self.started: Counter[str] = Counter()
        self.running: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, plan: Plan, stop: threading.Event) -> None:
        name = plan.cfg.name
        with self._lock:
            self.started[name] += 1
            if self.crashes[name]:
                self.crashes[name] -= 1
                raise RuntimeError(f"{name} hit a bug")
            self.running.add(name)
        stop.wait()
        with self._lock:
            self.running.discard(name)


def test_a_crashed_connector_is_restarted_with_backoff_and_the_others_keep_running(folder: Path) -> None:
    runs = Runs({"gongan-hukou": 2})
    supervisor = Supervisor(runs, max_backoff_s=0.05)
    for path in sorted(folder.glob("*.yaml")):
        supervisor.start(path, load_plan(path))
    wait_for(lambda: runs.running == {"gongan-hukou", "minzheng-subsidy"}, "both connectors running")
    assert runs.started == {"gongan-hukou": 3, "minzheng-subsidy": 1}
    assert supervisor.restarts == {folder / "gongan-hukou.yaml": 2}
    supervisor.stop.set()
    supervisor.join()
    assert runs.running == set()


def test_a_connector_whose_file_breaks_while_it_crashes_waits_for_the_file_to_be_fixed(folder: Path) -> None:
    path = folder / "gongan-hukou.yaml"
    good = path.read_text(encoding="utf-8")
    plan = load_plan(path)
    path.write_text(good.replace("key: id_number", "key: no_such_field"), encoding="utf-8")
    runs = Runs({"gongan-hukou": 1})
    supervisor = Supervisor(runs, max_backoff_s=0.05)
    supervisor.start(path, plan)
    wait_for(lambda: supervisor.restarts.get(path, 0) >= 3, "reloads of the broken file")
    assert runs.started["gongan-hukou"] == 1  # the broken file is never run
    path.write_text(good, encoding="utf-8")
    wait_for(lambda: "gongan-hukou" in runs.running, "the fixed file running")
    supervisor.stop.set()
    supervisor.join()


def test_a_watched_folder_starts_valid_files_and_reports_invalid_ones_without_stopping(folder: Path) -> None:
    (folder / "broken.yaml").write_text("name: Not Valid\nsource: {type: nosuch}\n", encoding="utf-8")
    runs = Runs({})
    supervisor = Supervisor(runs, max_backoff_s=0.05)
    watcher = threading.Thread(target=supervisor.watch, args=(folder, 0.01), daemon=True)
    watcher.start()
    wait_for(lambda: runs.running == {"gongan-hukou", "minzheng-subsidy"}, "the valid files running")
    added = folder / "late.yaml"
    added.write_text(
        (folder / "gongan-hukou.yaml")
        .read_text(encoding="utf-8")
        .replace("name: gongan-hukou", "name: late"),
        encoding="utf-8",
    )
    wait_for(lambda: "late" in runs.running, "a file added while watching")
    supervisor.stop.set()
    watcher.join(60)
    assert not watcher.is_alive() and runs.running == set()


def test_a_fenced_connector_is_not_restarted(folder: Path) -> None:
    from civicbus.connectors.delivery import Fenced

    class FencedRuns(Runs):
        def __call__(self, plan: Plan, stop: threading.Event) -> None:
            with self._lock:
                self.started[plan.cfg.name] += 1
            raise Fenced("a newer instance took the transactional id")

    runs = FencedRuns({})
    supervisor = Supervisor(runs, max_backoff_s=0.05)
    path = folder / "gongan-hukou.yaml"
    supervisor.start(path, load_plan(path))
    wait_for(lambda: supervisor.fenced == [path], "the fenced connector to end")
    supervisor.stop.set()
    supervisor.join()
    assert runs.started["gongan-hukou"] == 1 and supervisor.restarts == {}
