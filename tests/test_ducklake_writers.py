"""Eight processes commit to one DuckLake at once, racing to store the same spans; one is killed.

Every batch must be there exactly once, the killed writer's committed batches too, and the
others must not notice the kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lake_writer import own_trace, shared_trace
from postgres_server import PostgresServer

from otel_llm_cost.ducklake import DuckLakeStore

WRITERS = 8
BATCHES = 3
SIZE = 100
SHARED = 20
VICTIM = WRITERS - 1
VICTIM_BATCHES = 30  # it is killed long before it would finish


def _start(spec: str, writer: int, batches: int, pause_s: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    script = str(Path(__file__).parent / "lake_writer.py")
    args = [spec, str(writer), str(batches), str(SIZE), str(SHARED), str(pause_s)]
    return subprocess.Popen(
        [sys.executable, script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )


def test_eight_writers_store_every_batch_once_and_survive_a_kill(postgres: PostgresServer, tmp_path: Path) -> None:
    spec = "ducklake:postgres:" + postgres.create_database("writers")
    DuckLakeStore(spec, data_path=tmp_path / "data").close()  # created once; the writers race on the rest
    writers = [
        _start(spec, w, VICTIM_BATCHES if w == VICTIM else BATCHES, 0.3 if w == VICTIM else 0.0) for w in range(WRITERS)
    ]
    try:
        for process in writers:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in writers:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        victim = writers[VICTIM]
        assert victim.stdout is not None
        victim_committed = [victim.stdout.readline().split() for _ in range(2)]
        os.kill(victim.pid, signal.SIGKILL)  # mid-way: between or inside its commits
        victim.wait(timeout=30)
        reports: dict[int, list[list[str]]] = {}
        for w, process in enumerate(writers[:VICTIM]):
            out, _ = process.communicate(timeout=240)
            assert process.returncode == 0, f"writer {w} failed"
            reports[w] = [line.split() for line in out.splitlines()]
    finally:
        for process in writers:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    assert all([r[1] for r in lines] == [str(b) for b in range(BATCHES)] for lines in reports.values())
    assert [r[1] for r in victim_committed] == ["0", "1"]
    with DuckLakeStore(spec, read_only=True) as store:

        def per_trace(trace_id: str) -> tuple[int, int]:
            row = store.con.execute(
                "SELECT count(*), count(DISTINCT span_id) FROM llm_calls WHERE trace_id = ?", [trace_id]
            ).fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

        for w in range(VICTIM):
            for b in range(BATCHES):
                assert per_trace(own_trace(w, b)) == (SIZE, SIZE), (w, b)
        for b in range(BATCHES):
            assert per_trace(shared_trace(b)) == (SHARED, SHARED), b  # raced by every writer, stored once
        for b in range(2):
            assert per_trace(own_trace(VICTIM, b)) == (SIZE, SIZE)  # committed before the kill: kept
        for b in range(2, VICTIM_BATCHES):
            assert per_trace(own_trace(VICTIM, b)) in ((0, 0), (SIZE, SIZE))  # never half a batch
        total = store.con.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM llm_calls").fetchone()
        assert total is not None and total[0] == total[1]
