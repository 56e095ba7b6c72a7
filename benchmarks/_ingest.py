"""Figure 3: end-to-end ingest, spans priced and committed to DuckDB per second.

All spans are built before any clock runs. Per round, each in a fresh DuckDB file whose schema the
store's own migrations created (opening and migrating is not timed):

* ``export``: ``CostExporter(DuckDBStore(file)).export(batch)`` for consecutive batches until all
  ``n`` spans are committed: normalise + price + Arrow + ``INSERT OR IGNORE``, one transaction each.
  The exporter gets a fresh ``Pricer``, so resolving each model once is included.
* ``write_batch``: ``DuckDBStore.write_batch`` of the same calls, already priced: the store alone
  (Arrow conversion + insert). ``arrow`` times ``calls_to_arrow`` alone, for the breakdown.
* ``executemany`` (the baseline): the first ``n_baseline`` of the same rows, as Python tuples made
  from the same ``CallRecord``/``Cost`` objects, inserted with ``executemany`` into the same
  ``llm_calls`` table in one transaction. Only the insert is timed. It is ~1000x slower, so it runs
  on fewer rows and is compared as a rate.
* ``processor`` (informational): ``LLMCostSpanProcessor.on_end`` for every span, then
  ``force_flush``: the same pipeline behind the processor's queue and worker thread.

The three measurements take turns (the order rotates every round), and the ratios are per round.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from _common import gc_paused, median, ratio_summary
from _workload import LLM_ATTRIBUTES, make_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_llm_cost import CostExporter, DuckDBStore, LLMCostSpanProcessor
from otel_llm_cost.conventions import CallRecord, to_call_record
from otel_llm_cost.pricing import Cost, Pricer
from otel_llm_cost.store import calls_to_arrow

Priced = list[tuple[CallRecord, Cost]]


def _fresh_store(path: Path) -> DuckDBStore:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    return DuckDBStore(path)


def _time_export(spans: list[ReadableSpan], batch_size: int, path: Path) -> tuple[float, int]:
    store = _fresh_store(path)
    exporter = CostExporter(store, pricer=Pricer())
    try:
        with gc_paused():
            start = time.perf_counter_ns()
            for index in range(0, len(spans), batch_size):
                if exporter.export(spans[index : index + batch_size]) is not SpanExportResult.SUCCESS:
                    raise RuntimeError(f"export failed: {exporter.stats}")
            elapsed = time.perf_counter_ns() - start
        stored = exporter.stats.stored
    finally:
        exporter.shutdown()  # closes the store; the checkpoint on close is not timed
    return elapsed / 1e9, stored


def _time_write_batch(priced: Priced, batch_size: int, path: Path) -> tuple[float, int]:
    store = _fresh_store(path)
    try:
        inserted = 0
        with gc_paused():
            start = time.perf_counter_ns()
            for index in range(0, len(priced), batch_size):
                inserted += store.write_batch(priced[index : index + batch_size])
            elapsed = time.perf_counter_ns() - start
    finally:
        store.close()
    return elapsed / 1e9, inserted


def _time_arrow(priced: Priced, batch_size: int) -> float:
    with gc_paused():
        start = time.perf_counter_ns()
        for index in range(0, len(priced), batch_size):
            calls_to_arrow(priced[index : index + batch_size])
        return (time.perf_counter_ns() - start) / 1e9


def baseline_rows(priced: Priced) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and plain Python tuples for the same calls, via the store's own conversion.

    Going through ``calls_to_arrow`` guarantees the same columns and the same values (money rounded
    to the column's 18 places, ids as hex text). Timestamps become ``datetime`` at microsecond
    precision, which is what a TIMESTAMPTZ column holds.
    """
    batch = calls_to_arrow(priced)
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us", tz="UTC"), safe=False)
        columns.append(column.to_pylist())
    return list(batch.schema.names), list(zip(*columns, strict=True))


def _time_executemany(columns: list[str], rows: list[tuple[Any, ...]], path: Path) -> float:
    store = _fresh_store(path)
    sql = f"INSERT OR IGNORE INTO llm_calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    try:
        con = store.con
        with gc_paused():
            start = time.perf_counter_ns()
            con.execute("BEGIN TRANSACTION")
            con.executemany(sql, rows)
            con.execute("COMMIT")
            elapsed = time.perf_counter_ns() - start
    finally:
        store.close()
    return elapsed / 1e9


def _time_stages(spans: list[ReadableSpan], records: list[CallRecord], pricer: Pricer) -> tuple[float, float]:
    """Seconds for ``to_call_record`` over every span, and for a warm ``Pricer.price`` over every call."""
    with gc_paused():
        start = time.perf_counter_ns()
        for span in spans:
            to_call_record(span)
        middle = time.perf_counter_ns()
        for record in records:
            pricer.price(record)
        end = time.perf_counter_ns()
    return (middle - start) / 1e9, (end - middle) / 1e9


def _time_processor(spans: list[ReadableSpan], path: Path) -> tuple[float, int]:
    store = _fresh_store(path)
    processor = LLMCostSpanProcessor(store=store, max_queue_size=len(spans) + 1, flush_at_exit=False)
    try:
        with gc_paused():
            start = time.perf_counter_ns()
            for span in spans:
                processor.on_end(span)
            if not processor.force_flush(600_000):
                raise RuntimeError("force_flush timed out")
            elapsed = time.perf_counter_ns() - start
        stats = processor.stats()
    finally:
        processor.shutdown()
    if stats.dropped:
        raise RuntimeError(f"the processor dropped spans: {stats}")
    return elapsed / 1e9, stats.stored


def _compare_tables(reference: Path, other: Path, keys_from_other_only: bool) -> dict[str, int]:
    """Rows of ``other`` that differ from ``reference`` (every stored column but ``ingested_at``)."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{reference}' AS ref (READ_ONLY)")
        con.execute(f"ATTACH '{other}' AS oth (READ_ONLY)")
        names = [row[0] for row in con.execute("DESCRIBE ref.llm_calls").fetchall() if row[0] != "ingested_at"]
        cols = ", ".join(names)
        ref_rows = "ref.llm_calls"
        if keys_from_other_only:
            ref_rows = "(SELECT r.* FROM ref.llm_calls r SEMI JOIN oth.llm_calls o USING (trace_id, span_id))"
        only_ref = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {ref_rows} EXCEPT ALL "
                               f"SELECT {cols} FROM oth.llm_calls)").fetchone()  # fmt: skip
        only_other = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM oth.llm_calls EXCEPT ALL "
                                 f"SELECT {cols} FROM {ref_rows})").fetchone()  # fmt: skip
        rows = con.execute("SELECT count(*) FROM oth.llm_calls").fetchone()
    assert only_ref is not None and only_other is not None and rows is not None
    return {"rows": int(rows[0]), "only_in_reference": int(only_ref[0]), "only_in_other": int(only_other[0])}


def _stages(
    *, export_s: float, write_batch_s: float, arrow_s: float, normalise_s: float, price_s: float, count: int
) -> dict[str, float]:
    stages = {
        "to_call_record": normalise_s,
        "price": price_s,
        "calls_to_arrow": arrow_s,
        "duckdb_insert": write_batch_s - arrow_s,
    }
    stages["rest"] = export_s - sum(stages.values())
    return {name: round(seconds / count * 1e6, 2) for name, seconds in stages.items()}


def run(
    *,
    spans_count: int,
    baseline_count: int,
    batch_size: int,
    rounds: int,
    db_dir: Path,
    extra_batch_sizes: tuple[int, ...] = (),
    with_processor: bool = True,
    seed: int = 3,
) -> dict[str, Any]:
    spans = make_spans(spans_count, seed=seed)
    records = [record for record in (to_call_record(span) for span in spans) if record is not None]
    if len(records) != len(spans):
        raise RuntimeError("the workload must consist of provider calls only")
    pricer = Pricer()
    priced: Priced = [(record, pricer.price(record)) for record in records]  # warm from here on
    columns, rows = baseline_rows(priced[:baseline_count])

    extra = [f"export@{size}" for size in extra_batch_sizes]
    measurements = ["executemany", "export", "write_batch", *extra, *(["processor"] if with_processor else [])]
    paths = {name: db_dir / f"ingest-{name.replace('@', '-')}.duckdb" for name in measurements}
    seconds: dict[str, list[float]] = {name: [] for name in [*measurements, "arrow", "normalise", "price"]}
    ratios: dict[str, list[float]] = {name: [] for name in measurements if name != "executemany"}
    measurements.append("stages")  # to_call_record and Pricer.price alone, for the breakdown
    stored: dict[str, int] = {}
    for index in range(rounds):
        shift = index % len(measurements)
        for name in measurements[shift:] + measurements[:shift]:
            if name == "executemany":
                seconds[name].append(_time_executemany(columns, rows, paths[name]))
                continue
            if name == "stages":
                normalise_s, price_s = _time_stages(spans, records, pricer)
                seconds["normalise"].append(normalise_s)
                seconds["price"].append(price_s)
                continue
            if name == "write_batch":
                elapsed, stored[name] = _time_write_batch(priced, batch_size, paths[name])
                seconds["arrow"].append(_time_arrow(priced, batch_size))
            elif name == "processor":
                elapsed, stored[name] = _time_processor(spans, paths[name])
            else:
                size = int(name.partition("@")[2] or batch_size)
                elapsed, stored[name] = _time_export(spans, size, paths[name])
            seconds[name].append(elapsed)
        baseline_rate = baseline_count / seconds["executemany"][-1]
        for name, values in ratios.items():
            values.append(spans_count / seconds[name][-1] / baseline_rate)

    def rate(name: str, count: int) -> float:
        return count / median(seconds[name])

    result: dict[str, Any] = {
        "spans": spans_count,
        "baseline_rows": baseline_count,
        "batch_size": batch_size,
        "rounds": rounds,
        "export_spans_per_s": rate("export", spans_count),
        "write_batch_rows_per_s": rate("write_batch", spans_count),
        "arrow_rows_per_s": rate("arrow", spans_count),
        "executemany_rows_per_s": rate("executemany", baseline_count),
        "export_vs_executemany": ratio_summary(ratios["export"]),
        "write_batch_vs_executemany": ratio_summary(ratios["write_batch"]),
        "extra_batch_sizes": {
            name.partition("@")[2]: {
                "export_spans_per_s": rate(name, spans_count),
                "export_vs_executemany": ratio_summary(ratios[name]),
            }
            for name in extra
        },
        "stored": stored,
        # Where an export()ed span's time goes, µs per span; "rest" is export minus the others
        # (duplicate detection, Python glue, the fresh Pricer's first resolutions).
        "stages_us_per_span": _stages(
            export_s=median(seconds["export"]),
            write_batch_s=median(seconds["write_batch"]),
            arrow_s=median(seconds["arrow"]),
            normalise_s=median(seconds["normalise"]),
            price_s=median(seconds["price"]),
            count=spans_count,
        ),
        # The same calls must land as the same rows whichever way they were inserted.
        "identity": {"executemany_vs_write_batch": _compare_tables(paths["write_batch"], paths["executemany"], True)},
    }
    for name in measurements:
        if name not in ("executemany", "write_batch", "stages"):
            result["identity"][f"{name}_vs_write_batch"] = _compare_tables(paths["write_batch"], paths[name], False)
    if with_processor:
        result["processor_spans_per_s"] = rate("processor", spans_count)
        result["processor_vs_executemany"] = ratio_summary(ratios["processor"])
    return result


def run_lookalike_scaling(*, small: int, factor: int, rounds: int, batch_size: int, db_dir: Path) -> dict[str, Any]:
    """Does ingest stay linear when many calls look alike (same model, same usage, one scope)?

    Fixed-size prompts (classifiers, embeddings of fixed-size chunks) produce exactly that. The
    rate at ``small`` spans and at ``factor`` times as many should be about the same; a per-span
    cost that grows with the number of look-alikes already seen shows as a ratio well below 1.
    The varied workload at the larger size is the reference rate.
    """
    large = small * factor
    lookalikes = make_spans(large, seed=11, same_attributes=LLM_ATTRIBUTES)
    varied = make_spans(large, seed=12)
    cases = {
        "lookalike_small": lookalikes[:small],
        "lookalike_large": lookalikes,
        "varied_large": varied,
    }
    rates: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed, stored = _time_export(cases[name], batch_size, db_dir / f"scaling-{name}.duckdb")
            if stored != len(cases[name]):
                raise RuntimeError(f"{name}: stored {stored} of {len(cases[name])}")
            rates[name].append(len(cases[name]) / elapsed)
    return {
        "small": small,
        "large": large,
        "rounds": rounds,
        "lookalike_small_spans_per_s": median(rates["lookalike_small"]),
        "lookalike_large_spans_per_s": median(rates["lookalike_large"]),
        "varied_large_spans_per_s": median(rates["varied_large"]),
        "large_vs_small": ratio_summary(
            [
                large_rate / small_rate
                for large_rate, small_rate in zip(rates["lookalike_large"], rates["lookalike_small"], strict=True)
            ]
        ),
        "lookalike_vs_varied": ratio_summary(
            [same / other for same, other in zip(rates["lookalike_large"], rates["varied_large"], strict=True)]
        ),
    }
