"""``otel-llm-cost serve`` under load, under ``kill -9``, and its throughput (figure 7, opt-in).

Three measurements, each against a real server process on 127.0.0.1:

* **load**: P sender processes send N spans in batches over OTLP/HTTP. A sender retries a batch
  until it is acknowledged (connection refused, 429 and 503 are retried; anything else, or giving
  up after ``give_up_s``, counts the batch as dropped). Pass: distinct stored rows + dropped spans
  = N, no (trace_id, span_id) stored twice, every acknowledged span present.
* **kill -9**: the same, with the server killed (SIGKILL) once a third of the batches are
  acknowledged and restarted on the same port. Pass: the same identities, after the restart.
* **throughput**: the SDK's ``OTLPSpanExporter`` (protobuf over HTTP) exports pre-built spans in
  512-span batches, one exporter per sender process, to ``serve`` and, as the baseline, to a
  receiver that reads each request and discards it. Ratio = serve spans/s / discard spans/s,
  per round, baseline and candidate alternating.

``python benchmarks/_serve.py send ...`` is the sender; the harness starts it as a subprocess.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import ratio_summary  # noqa: E402

BATCH = 512


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the processes ---------------------------------------------------------------------------------


def start_server(db: Path, port: int, *extra: str, spool: Path | None = None) -> subprocess.Popen[bytes]:
    """``otel-llm-cost serve`` on ``port`` (HTTP only), once /healthz answers."""
    command = [sys.executable, "-m", "otel_llm_cost", "serve", "--db", str(db), "--http-port", str(port)]
    command += ["--grpc-port", "off", *extra]
    if spool is not None:
        command += ["--spool-dir", str(spool)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"serve exited {server.returncode}: {server.stderr.read().decode() if server.stderr else ''}"
            )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()
    server.kill()
    raise RuntimeError("serve did not answer /healthz within 60 s")


def stop_server(server: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    """SIGTERM, then the exit status."""
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(timeout_s)
    finally:
        if server.stderr is not None:
            server.stderr.close()


def start_discard_receiver(port: int) -> subprocess.Popen[bytes]:
    """A receiver that reads each request in full and answers 200 without decoding it."""
    code = (
        "import sys\n"
        "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def do_POST(self):\n"
        "        self.rfile.read(int(self.headers['Content-Length']))\n"
        "        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()\n"
        "    def log_message(self, *a): pass\n"
        "ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    receiver = subprocess.Popen([sys.executable, "-c", code, str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return receiver
        except OSError:
            time.sleep(0.05)
    receiver.kill()
    raise RuntimeError("the discard receiver did not start")


def start_senders(
    port: int, processes: int, spans: int, out_dir: Path, *, batch: int = BATCH, give_up_s: float = 120
) -> list[Any]:
    """P sender processes, each sending its share of ``spans``; each writes its outcome files."""
    senders = []
    share = [spans // processes + (1 if i < spans % processes else 0) for i in range(processes)]
    for index, count in enumerate(share):
        command = [sys.executable, __file__, "send", str(port), str(index), str(count), str(out_dir)]
        command += [str(batch), str(give_up_s)]
        senders.append(subprocess.Popen(command))
    return senders


def send(port: int, seed: int, count: int, out_dir: Path, batch_size: int, give_up_s: float) -> None:
    """The sender process: batches of ``batch_size`` spans, retried until acknowledged or given up."""
    from _workload import make_spans
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spans = make_spans(count, seed=10_000 + seed)
    acked = open(out_dir / f"acked-{seed}.txt", "w")  # noqa: SIM115 - line-buffered log of acknowledged ids
    dropped = 0
    for start in range(0, count, batch_size):
        batch = spans[start : start + batch_size]
        body = encode_spans(batch).SerializeToString()
        ids = [f"{s.context.trace_id:032x}:{s.context.span_id:016x}" for s in batch]
        if _post_until_acknowledged(port, body, give_up_s):
            acked.write("\n".join(ids) + "\n")
            acked.flush()
        else:
            dropped += len(batch)
    acked.close()
    (out_dir / f"dropped-{seed}.txt").write_text(str(dropped))


def _post_until_acknowledged(port: int, body: bytes, give_up_s: float) -> bool:
    deadline = time.monotonic() + give_up_s
    connection: http.client.HTTPConnection | None = None
    while time.monotonic() < deadline:
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return True
            if response.status not in (429, 503):
                return False
            time.sleep(float(response.getheader("Retry-After", "1")) / 10)
        except (OSError, http.client.HTTPException):
            # The server is down (killed, restarting): a new connection after a short wait.
            if connection is not None:
                connection.close()
            connection = None
            time.sleep(0.1)
    return False


# -- load and kill -9 ------------------------------------------------------------------------------


def load_test(work: Path, *, spans: int, processes: int, kill: bool, batch: int = BATCH) -> dict[str, Any]:
    """Send ``spans`` from ``processes`` senders (killing the server once if ``kill``); check the identities."""
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    db = work / "serve.duckdb"
    port = free_port()
    server = start_server(db, port)
    started = time.monotonic()
    senders = start_senders(port, processes, spans, work, batch=batch)
    killed_at_acked = None
    if kill:
        while _acked_count(work) < spans // 3 and any(s.poll() is None for s in senders):
            time.sleep(0.02)
        killed_at_acked = _acked_count(work)
        server.kill()  # SIGKILL: no flush, no close; whatever was committed must survive
        server.wait()
        if server.stderr is not None:
            server.stderr.close()
        server = start_server(db, port)
    for sender in senders:
        sender.wait()
    elapsed = time.monotonic() - started
    exit_status = stop_server(server)
    acked = set()
    for path in work.glob("acked-*.txt"):
        acked.update(line for line in path.read_text().splitlines() if line)
    dropped = sum(int(p.read_text()) for p in work.glob("dropped-*.txt"))
    with duckdb.connect(str(db), read_only=True) as con:
        counts = con.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM llm_calls").fetchone()
        rows, distinct = counts if counts else (0, 0)
        stored_ids = {f"{t}:{s}" for t, s in con.execute("SELECT trace_id, span_id FROM llm_calls").fetchall()}
    missing = len(acked - stored_ids)
    return {
        "spans": spans,
        "processes": processes,
        "batch": batch,
        "killed": kill,
        "killed_after_acknowledged": killed_at_acked,
        "seconds": elapsed,
        "stored_rows": rows,
        "distinct_rows": distinct,
        "dropped": dropped,
        "acknowledged": len(acked),
        "acknowledged_missing": missing,
        "server_exit_status": exit_status,
        "ok": rows == distinct and distinct + dropped == spans and missing == 0 and exit_status == 0,
    }


def _acked_count(work: Path) -> int:
    total = 0
    for path in work.glob("acked-*.txt"):
        with open(path, "rb") as f:
            total += f.read().count(b"\n")
    return total


# -- throughput ------------------------------------------------------------------------------------


def _export_all(port: int, processes: int, spans: int, *, until_written: bool) -> float:
    """Spans/s of ``processes`` exporters, each exporting its share in BATCH-span batches.

    With ``until_written`` the clock stops once the server's queue is empty too: ``serve``
    answers once a request is in its journal, and the rate counts committed spans, not answers.
    """
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from _workload import make_spans\n"
        "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\n"
        "port, seed, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n"
        "spans = make_spans(count, seed=seed)\n"
        "exporter = OTLPSpanExporter(endpoint=f'http://127.0.0.1:{port}/v1/traces')\n"
        "print('ready', flush=True); sys.stdin.readline()\n"
        f"for i in range(0, count, {BATCH}):\n"
        f"    assert exporter.export(spans[i:i + {BATCH}]).name == 'SUCCESS'\n"
        "exporter.shutdown()\n"
    )
    seed = time.time_ns() % 10**9  # fresh ids each round: every span is a new row
    share = spans // processes
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(port), str(seed + i), str(share)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for i in range(processes)
    ]
    for w in workers:  # spans are built before the clock starts
        assert w.stdout is not None and w.stdout.readline().strip() == b"ready"
    started = time.perf_counter()
    for w in workers:
        assert w.stdin is not None
        w.stdin.write(b"go\n")
        w.stdin.flush()
    for w in workers:
        if w.wait() != 0:
            raise RuntimeError("an exporter failed")
    while until_written and _queued_spans(port):
        time.sleep(0.005)
    return share * processes / (time.perf_counter() - started)


def _queued_spans(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        return int(json.loads(connection.getresponse().read())["queued_spans"])
    finally:
        connection.close()


def throughput(work: Path, *, spans: int, processes: int, rounds: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    serve_port, discard_port = free_port(), free_port()
    server = start_server(work / "throughput.duckdb", serve_port)
    discard = start_discard_receiver(discard_port)
    serve_rates: list[float] = []
    discard_rates: list[float] = []
    try:
        for index in range(rounds):
            order = [(discard_port, discard_rates, False), (serve_port, serve_rates, True)]
            for port, rates, until_written in order if index % 2 == 0 else reversed(order):
                rates.append(_export_all(port, processes, spans, until_written=until_written))
    finally:
        stop_server(server)
        discard.terminate()
        discard.wait()
    ratios = [s / d for s, d in zip(serve_rates, discard_rates, strict=True)]
    return {
        "spans_per_round": spans,
        "exporter_processes": processes,
        "batch": BATCH,
        "serve_spans_per_s": sorted(serve_rates)[len(serve_rates) // 2],
        "discard_spans_per_s": sorted(discard_rates)[len(discard_rates) // 2],
        "ratio": ratio_summary(ratios),
    }


def run(work: Path, *, spans: int, processes: int, rounds: int) -> dict[str, Any]:
    return {
        "load": load_test(work / "load", spans=spans, processes=processes, kill=False),
        "kill9": load_test(work / "kill9", spans=spans, processes=processes, kill=True),
        "throughput_1": throughput(work / "tp1", spans=spans, processes=1, rounds=rounds),
        "throughput_p": throughput(work / "tpp", spans=spans, processes=processes, rounds=rounds),
    }


SIZES = {  # kind of run -> (spans, sender processes, throughput rounds)
    "full": (51_200, 4, 5),
    "quick": (10_240, 2, 3),
    "smoke": (2_048, 2, 1),
}


def run_sized(kind: str, work: Path) -> dict[str, Any]:
    spans, processes, rounds = SIZES[kind]
    return run(work, spans=spans, processes=processes, rounds=rounds)


def checks(figure: dict[str, Any]) -> list[dict[str, Any]]:
    """The identities, as benchmarks/run.py lists its correctness checks."""
    return [
        {"name": f"serve {key}: stored distinct + dropped = sent, no duplicates, acknowledged all present",
         "ok": figure[key]["ok"], "detail": {k: v for k, v in figure[key].items() if k != "ok"}}
        for key in ("load", "kill9")
    ]  # fmt: skip


def render(figure: dict[str, Any]) -> str:
    lines = ["7. serve (OTLP/HTTP, protobuf, 127.0.0.1)"]
    for key in ("load", "kill9"):
        f = figure[key]
        lines.append(
            f"   {key:<6} {f['spans']:,} spans from {f['processes']} processes: {f['distinct_rows']:,} stored,"
            f" {f['dropped']:,} dropped, {f['stored_rows'] - f['distinct_rows']} duplicates,"
            f" {f['acknowledged_missing']} acknowledged missing -> {'ok' if f['ok'] else 'FAILED'}"
            + (f" (killed after {f['killed_after_acknowledged']:,} acknowledged)" if f["killed"] else "")
        )
    for key in ("throughput_1", "throughput_p"):
        f = figure[key]
        r = f["ratio"]
        lines.append(
            f"   throughput, {f['exporter_processes']} OTLPSpanExporter(s), {f['batch']}-span batches:"
            f" serve {f['serve_spans_per_s']:,.0f} spans/s, discard receiver {f['discard_spans_per_s']:,.0f} spans/s,"
            f" ratio {r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]"
            f" (target 20,000 spans/s: {'met' if f['serve_spans_per_s'] >= 20_000 else 'MISSED'})"
        )
    return "\n".join(lines)


def main_figure(kind: str, output: Path) -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="otel-llm-cost-serve-") as tmp:
        figure = run_sized(kind, Path(tmp))
    print(render(figure))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"figures": {"serve": figure}, "checks": checks(figure)}, indent=2) + "\n")
    print(f"results written to {output}")
    return 0 if all(c["ok"] for c in checks(figure)) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "send":
        send(
            int(sys.argv[2]),
            int(sys.argv[3]),
            int(sys.argv[4]),
            Path(sys.argv[5]),
            int(sys.argv[6]),
            float(sys.argv[7]),
        )
    else:
        import argparse
        import tempfile

        parser = argparse.ArgumentParser(description="serve load, kill -9 and throughput")
        parser.add_argument("--spans", type=int, default=50_000)
        parser.add_argument("--processes", type=int, default=4)
        parser.add_argument("--rounds", type=int, default=3)
        args = parser.parse_args()
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run(Path(tmp), spans=args.spans, processes=args.processes, rounds=args.rounds), indent=2))
