"""``serve`` under load from several processes, and killed with SIGKILL in the middle of it.

A smaller run of ``benchmarks/_serve.py`` (the load-test script): real server processes on
127.0.0.1, sender processes that retry each batch until it is acknowledged, and then the
identities that must hold whatever the timing. Nothing here asserts a time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def load() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _serve

        yield _serve
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("kill", [False, True], ids=["steady", "kill-9-and-restart"])
def test_every_span_is_stored_once_or_counted(load: ModuleType, tmp_path: Path, kill: bool) -> None:
    result = load.load_test(tmp_path, spans=2048, processes=3, kill=kill, batch=64)
    # Each sender retries until its batch is acknowledged, so nothing is dropped, and every
    # acknowledged span is in the database, once, after a SIGKILL and a restart too.
    assert result["dropped"] == 0
    assert result["stored_rows"] == result["distinct_rows"] == 2048
    assert result["acknowledged"] == 2048 and result["acknowledged_missing"] == 0
    assert result["server_exit_status"] == 0  # SIGTERM at the end: a clean exit
    assert result["ok"]
    if kill:
        assert 2048 // 3 <= result["killed_after_acknowledged"] < 2048
    assert not list((tmp_path / "serve.duckdb.journal").iterdir())  # the clean stop emptied the journal
