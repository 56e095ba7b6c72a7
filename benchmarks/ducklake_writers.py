"""DuckLake write throughput vs a DuckDB file, measured in one run: ``.venv/bin/python benchmarks/ducklake_writers.py``.

Starts a throwaway PostgreSQL (tests/postgres_server.py) and reports, as calls committed per second:

1. baseline: one process writing BATCHES batches of SIZE calls to a DuckDB file (``DuckDBStore``);
2. one process writing the same batches to a DuckLake (``DuckLakeStore``), as a ratio to 1;
3. WRITERS processes writing as many batches each to one DuckLake at once (tests/lake_writer.py),
   as a ratio to 2: the write fence serializes commits, so this shows what concurrency still gains.

Each figure is the median of ROUNDS rounds; rows are checked after each (exact counts, no duplicates).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from lake_writer import own_trace  # noqa: E402
from postgres_server import postgres_server  # noqa: E402
from test_store import cost, record  # noqa: E402

from otel_llm_cost.ducklake import DuckLakeStore  # noqa: E402
from otel_llm_cost.store import DuckDBStore  # noqa: E402


def batches(writer: int, count: int, size: int) -> list[list[tuple[object, object]]]:
    return [
        [(record(trace_id=own_trace(writer, b), span_id=f"{i:016x}"), cost()) for i in range(size)]
        for b in range(count)
    ]


def timed_writes(store: DuckDBStore | DuckLakeStore, work: list[list[tuple[object, object]]]) -> float:
    began = time.perf_counter()
    for batch in work:
        store.write_batch(batch)  # type: ignore[arg-type]
    return time.perf_counter() - began


def concurrent(spec: str, writers: int, count: int, size: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    args = [str(count), str(size), "0", "0"]
    processes = [
        subprocess.Popen(
            [sys.executable, str(TESTS / "lake_writer.py"), spec, str(w), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(writers)
    ]
    for p in processes:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    began = time.perf_counter()
    for p in processes:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in processes:
        p.communicate(timeout=600)
        assert p.returncode == 0
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    calls = options.batches * options.size
    file_rates, lake_rates, many_rates = [], [], []
    with postgres_server() as server, tempfile.TemporaryDirectory() as folder:
        for round_ in range(options.rounds):
            with DuckDBStore(Path(folder, f"r{round_}.duckdb")) as file:
                file_rates.append(calls / timed_writes(file, batches(0, options.batches, options.size)))
            spec = "ducklake:postgres:" + server.create_database(f"one{round_}")
            with DuckLakeStore(spec, data_path=Path(folder, f"one{round_}")) as lake:
                lake_rates.append(calls / timed_writes(lake, batches(0, options.batches, options.size)))
                assert lake.con.execute("SELECT count(*) FROM llm_calls").fetchone() == (calls,)
            spec = "ducklake:postgres:" + server.create_database(f"many{round_}")
            DuckLakeStore(spec, data_path=Path(folder, f"many{round_}")).close()
            seconds = concurrent(spec, options.writers, options.batches, options.size)
            many_rates.append(options.writers * calls / seconds)
            with DuckLakeStore(spec, read_only=True) as lake:
                total = lake.con.execute(
                    "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM llm_calls"
                ).fetchone()
                assert total == (options.writers * calls,) * 2, total
    file_rate, lake_rate, many_rate = (statistics.median(r) for r in (file_rates, lake_rates, many_rates))
    print(f"{options.batches} batches of {options.size} calls, median of {options.rounds} rounds")
    print(f"DuckDB file, 1 process:       {file_rate:10,.0f} calls/s")
    print(f"DuckLake, 1 process:          {lake_rate:10,.0f} calls/s  ({lake_rate / file_rate:.2f}x the file)")
    print(
        f"DuckLake, {options.writers} processes at once: {many_rate:10,.0f} calls/s  "
        f"({many_rate / lake_rate:.2f}x one process)"
    )


if __name__ == "__main__":
    main()
