"""One writer process of tests/test_ducklake_writers.py.

Opens the lake, prints ``ready``, waits for a line on stdin (so all writers start together), then
commits BATCHES batches and prints ``committed B INSERTED`` after each. Batch B of writer W holds
SIZE calls of its own (trace ``W+1``/``B``) and SHARED calls that batch B of every writer also
holds (trace ``ff``/``B``), so the writers race to store the same spans.

    python tests/lake_writer.py SPEC WRITER BATCHES SIZE SHARED PAUSE_S
"""

from __future__ import annotations

import sys
import time

from test_store import cost, record

from otel_llm_cost.ducklake import DuckLakeStore


def own_trace(writer: int, batch: int) -> str:
    return f"{writer + 1:02x}{batch:030x}"


def shared_trace(batch: int) -> str:
    return f"ff{batch:030x}"


def main() -> None:
    spec, writer, batches, size, shared, pause_s = sys.argv[1], *map(int, sys.argv[2:6]), float(sys.argv[6])
    store = DuckLakeStore(spec)
    print("ready", flush=True)
    sys.stdin.readline()
    for batch in range(batches):
        rows = [(record(trace_id=own_trace(writer, batch), span_id=f"{i:016x}"), cost()) for i in range(size)]
        rows += [(record(trace_id=shared_trace(batch), span_id=f"{i:016x}"), cost()) for i in range(shared)]
        inserted = store.write_batch(rows)
        print(f"committed {batch} {inserted}", flush=True)
        time.sleep(pause_s)
    store.close()


if __name__ == "__main__":
    main()
