"""Fork safety: os.fork, multiprocessing (fork and spawn) and gunicorn --preload-style pre-fork.

Each scenario runs in a fresh interpreter (forking pytest itself would fork its threads too), under a
timeout that turns a deadlock into a failure. The rules proven here:

- no deadlock in the child, even when the fork happens while the worker holds the exporter's lock
  in the middle of a DuckDB write;
- the child starts empty, with counts of its own: spans it ends = its stored + its dropped;
- no span is exported twice: the parent's queued spans are written by the parent only;
- a child never writes, checkpoints or closes the file its parent had open (DuckDB hands a forked
  child the parent's in-memory copy of the database, without the parent's lock): it logs one clear
  error and counts its spans as dropped; with ``{pid}`` in ``db_path`` each child writes its own
  file, and ``DuckDBStore.merge_from`` gathers them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from conftest import query

from otel_llm_cost import DuckDBStore

PREAMBLE = """
import json, os, sys, threading
from opentelemetry.sdk.trace import TracerProvider
from otel_llm_cost import LLMCostSpanProcessor

ATTRS = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
         "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}

def make(db_path, **kwargs):
    provider = TracerProvider(shutdown_on_exit=False)
    processor = LLMCostSpanProcessor(db_path=db_path, **kwargs)
    provider.add_span_processor(processor)
    return provider.get_tracer("fork"), processor

def end(tracer, count, who):
    for i in range(count):
        tracer.start_span("chat", attributes={**ATTRS, "user.id": who}).end()

def report(name, processor):
    # One write: under PIPE_BUF, so lines from processes writing at once never interleave.
    line = json.dumps({"who": name, "pid": os.getpid(), **processor.stats().as_dict()}) + "\\n"
    os.write(1, line.encode())
"""


def run(script: str, *args: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Run a script (PREAMBLE prepended); return the JSON lines it printed. A hang fails the test."""
    code = PREAMBLE + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def by_who(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["who"]: r for r in reports}


def test_os_fork_child_never_touches_the_parents_file(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.duckdb")
    reports = run(
        """
        os.chdir(os.path.dirname(sys.argv[1]))
        tracer, processor = make(sys.argv[1], schedule_delay_millis=60_000)
        end(tracer, 100, "parent")
        processor.force_flush()          # the parent has the file open, with a WAL
        end(tracer, 50, "parent")        # queued in the parent at the fork
        files = lambda: sorted((f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in os.listdir(".") if "duck" in f)
        before = files()
        pid = os.fork()
        if pid == 0:
            end(tracer, 30, "child")
            assert processor.force_flush(10_000)
            report("child", processor)
            sys.exit(0)                  # a full interpreter exit: atexit, finalization, GC
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)
        # The child did not checkpoint the file or delete the WAL under the parent.
        assert files() == before, (before, files())
        end(tracer, 20, "parent")
        processor.shutdown()
        report("parent", processor)
        """,
        db,
    )
    child, parent = by_who(reports)["child"], by_who(reports)["parent"]
    # The child's own counts: its 30 spans, all dropped (one clear error), none of the parent's.
    assert (child["processed"], child["stored"], child["store_failed"], child["dropped"]) == (30, 0, 30, 30)
    assert (parent["processed"], parent["stored"], parent["dropped"]) == (170, 170, 0)
    # Every parent span once, no child span, and the file opens cleanly.
    assert query(db, "SELECT user_id, count(*), count(DISTINCT span_id) FROM llm_calls GROUP BY ALL") == [
        ("parent", 170, 170)
    ]


def test_os_fork_child_error_is_logged_once_and_names_the_file(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.duckdb")
    code = PREAMBLE + textwrap.dedent(
        """
        tracer, processor = make(sys.argv[1], flush_at_exit=False)
        end(tracer, 1, "parent")
        processor.force_flush()
        pid = os.fork()
        if pid == 0:
            for _ in range(3):
                end(tracer, 1, "child")
                processor.force_flush()
            os._exit(0)
        os.waitpid(pid, 0)
        processor.shutdown()
        """
    )
    result = subprocess.run([sys.executable, "-c", code, db], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "LLM cost records are being dropped" in line]
    assert len(errors) == 1, result.stderr
    assert repr(db) in errors[0] and "forked" in errors[0] and "one writing process per file" in errors[0]


def test_fork_while_the_worker_holds_its_lock_mid_write(tmp_path: Path) -> None:
    # The worker is stopped inside DuckDBStore.write_batch, holding the exporter's lock, when the
    # parent forks. The child must not deadlock on that lock: it writes its own file ({pid}).
    template = str(tmp_path / "llm-cost-{pid}.duckdb")
    reports = run(
        """
        from otel_llm_cost import store as store_module
        entered, release = threading.Event(), threading.Event()
        original = store_module.DuckDBStore.write_batch
        def stalled(self, *args, **kwargs):
            if os.getpid() == PARENT:
                entered.set()
                release.wait(30)
            return original(self, *args, **kwargs)
        store_module.DuckDBStore.write_batch = stalled
        PARENT = os.getpid()
        tracer, processor = make(sys.argv[1], schedule_delay_millis=60_000)
        end(tracer, 10, "parent")
        processor.force_flush(0)  # wakes the worker, which stalls holding the lock
        assert entered.wait(10)
        assert processor.exporter._lock.locked()
        pid = os.fork()
        if pid == 0:
            end(tracer, 25, "child")
            ok = processor.force_flush(10_000)
            processor.shutdown(10_000)
            print(json.dumps({"who": "flush", "ok": ok}), flush=True)
            report("child", processor)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)
        release.set()
        processor.shutdown()
        report("parent", processor)
        """,
        template,
    )
    found = by_who(reports)
    assert found["flush"]["ok"] is True
    child, parent = found["child"], found["parent"]
    assert (child["processed"], child["stored"], child["dropped"]) == (25, 25, 0)
    assert (parent["processed"], parent["stored"], parent["dropped"]) == (10, 10, 0)
    assert query(template.format(pid=child["pid"]), "SELECT user_id, count(*) FROM llm_calls GROUP BY ALL") == [
        ("child", 25)
    ]
    assert query(template.format(pid=parent["pid"]), "SELECT user_id, count(*) FROM llm_calls GROUP BY ALL") == [
        ("parent", 10)
    ]


def test_preload_style_prefork_with_a_file_per_worker_then_merged(tmp_path: Path) -> None:
    # gunicorn --preload: the master builds the processor, then forks workers, which end spans and
    # exit through sys.exit (gunicorn's worker exit), so the atexit hook flushes each one.
    template = str(tmp_path / "llm-cost-{pid}.duckdb")
    reports = run(
        """
        tracer, processor = make(sys.argv[1], schedule_delay_millis=60_000)
        workers = []
        for n in range(3):
            pid = os.fork()
            if pid == 0:
                threads = [threading.Thread(target=end, args=(tracer, 40, f"worker{n}")) for _ in range(2)]
                for t in threads: t.start()
                for t in threads: t.join()
                report(f"worker{n}", processor)
                sys.exit(0)
            workers.append(pid)
        for pid in workers:
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)
        report("master", processor)
        """,
        template,
    )
    found = by_who(reports)
    assert found["master"]["processed"] == 0
    files = sorted(tmp_path.glob("llm-cost-*.duckdb"))
    assert [f.name for f in files] == sorted(f"llm-cost-{found[f'worker{n}']['pid']}.duckdb" for n in range(3))
    merged = str(tmp_path / "merged.duckdb")
    with DuckDBStore(merged) as store:
        for f in files:
            store.merge_from(f)
    rows = query(merged, "SELECT user_id, count(*), count(DISTINCT span_id) FROM llm_calls GROUP BY ALL ORDER BY 1")
    assert rows == [(f"worker{n}", 80, 80) for n in range(3)]


def test_preload_style_prefork_sharing_one_file_drops_and_counts_in_all_but_one(tmp_path: Path) -> None:
    # The same set-up without {pid}: the first worker to write takes the file, the others find it
    # locked, log it once and count their spans as dropped. Nothing hangs, nothing is lost silently.
    db = str(tmp_path / "shared.duckdb")
    reports = run(
        """
        tracer, processor = make(sys.argv[1], schedule_delay_millis=60_000)
        r, w = os.pipe()
        workers = []
        for n in range(3):
            pid = os.fork()
            if pid == 0:
                end(tracer, 40, f"worker{n}")
                processor.force_flush()
                os.read(r, 1)            # stay alive (holding the file, maybe) until the master says
                processor.shutdown()
                report(f"worker{n}", processor)
                os._exit(0)
            workers.append(pid)
        import time
        time.sleep(1)
        os.write(w, b"xxx")
        for pid in workers:
            os.waitpid(pid, 0)
        """,
        db,
    )
    workers = [r for r in reports if r["who"].startswith("worker")]
    assert len(workers) == 3
    assert all(r["processed"] == r["stored"] + r["dropped"] == 40 for r in workers)
    assert sum(r["stored"] for r in workers) == query(db, "SELECT count(*) FROM llm_calls")[0][0]
    assert sum(r["stored"] for r in workers) >= 40  # at least one worker got the file


MULTIPROCESSING_SCRIPT = """
import multiprocessing

def work(template, queue):
    tracer, processor = make(template, schedule_delay_millis=60_000) if START == "spawn" else GLOBAL
    end(tracer, 30, multiprocessing.current_process().name)
    processor.force_flush()   # a multiprocessing child ends with os._exit: no atexit hook runs
    queue.put({"who": multiprocessing.current_process().name, "pid": os.getpid(), **processor.stats().as_dict()})

START = sys.argv[2]
if __name__ == "__main__":
    GLOBAL = make(sys.argv[1], schedule_delay_millis=60_000) if START == "fork" else None
    if GLOBAL:
        end(GLOBAL[0], 5, "main")
    context = multiprocessing.get_context(START)
    queue = context.Queue()
    children = [context.Process(target=work, args=(sys.argv[1], queue), name=f"child{n}") for n in range(2)]
    for c in children: c.start()
    results = [queue.get(timeout=60) for _ in children]
    for c in children: c.join(60); assert c.exitcode == 0, c.exitcode
    for r in results: print(json.dumps(r), flush=True)
    if GLOBAL:
        GLOBAL[1].shutdown()
        report("main", GLOBAL[1])
"""


def test_multiprocessing_fork_and_spawn(tmp_path: Path) -> None:
    for start in ("fork", "spawn"):
        folder = tmp_path / start
        folder.mkdir()
        template = str(folder / "llm-cost-{pid}.duckdb")
        script_file = folder / "script.py"  # spawn re-imports the main module: it must be a file
        script_file.write_text(PREAMBLE + textwrap.dedent(MULTIPROCESSING_SCRIPT))
        result = subprocess.run(
            [sys.executable, str(script_file), template, start], capture_output=True, text=True, timeout=90, check=False
        )
        assert result.returncode == 0, result.stderr[-3000:]
        found = by_who([json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")])
        for n in range(2):
            child = found[f"child{n}"]
            assert (child["processed"], child["stored"], child["dropped"]) == (30, 30, 0), (start, child)
            assert query(template.format(pid=child["pid"]), "SELECT user_id, count(*) FROM llm_calls GROUP BY ALL") == [
                (f"child{n}", 30)
            ]
        if start == "fork":
            # The parent's 5 spans, queued at each fork, are written once, by the parent.
            main = found["main"]
            assert (main["processed"], main["stored"]) == (5, 5)
            assert query(template.format(pid=main["pid"]), "SELECT user_id, count(*) FROM llm_calls GROUP BY ALL") == [
                ("main", 5)
            ]


def test_a_store_passed_in_is_disabled_in_a_forked_child_with_a_clear_reason(tmp_path: Path) -> None:
    db = str(tmp_path / "given.duckdb")
    code = PREAMBLE + textwrap.dedent(
        """
        from otel_llm_cost import DuckDBStore
        provider = TracerProvider(shutdown_on_exit=False)
        processor = LLMCostSpanProcessor(store=DuckDBStore(sys.argv[1]), flush_at_exit=False)
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("fork")
        end(tracer, 7, "parent")
        processor.force_flush()
        pid = os.fork()
        if pid == 0:
            end(tracer, 4, "child")
            processor.force_flush()
            report("child", processor)
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)
        end(tracer, 3, "parent")
        processor.shutdown()
        report("parent", processor)
        """
    )
    result = subprocess.run([sys.executable, "-c", code, db], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    found = by_who([json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")])
    assert (found["child"]["processed"], found["child"]["store_failed"], found["child"]["stored"]) == (4, 4, 0)
    assert (found["parent"]["processed"], found["parent"]["stored"]) == (10, 10)
    errors = [line for line in result.stderr.splitlines() if "LLM cost records are being dropped" in line]
    assert len(errors) == 1 and "was opened by the parent process before it forked" in errors[0], result.stderr
    assert query(db, "SELECT user_id, count(*) FROM llm_calls GROUP BY ALL") == [("parent", 10)]
