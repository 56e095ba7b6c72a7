"""Benchmark harness for otel-llm-cost: ``make bench`` or ``.venv/bin/python benchmarks/run.py [--quick]``.

Six figures, each a ratio against a baseline measured in the same process and the same run,
in interleaved rounds, reported as the median over rounds (see benchmarks/README.md):

1. ``span.end()`` of an LLM span: LLMCostSpanProcessor vs the SDK's BatchSpanProcessor (no-op exporter).
2. ``span.end()`` of a non-LLM (HTTP) span, same two processors.
3. Ingest: spans priced and committed to DuckDB per second, vs row-by-row ``executemany``.
4. Pricing: ``Pricer().price(record)`` vs ``genai_prices.calc_price``, after checking equal totals.
5. Views: each ``sql/views`` view over 1M generated calls (10M with ``--views-10m``) vs one
   aggregate scan of ``llm_calls``.
6. ``check_budget()``, the in-memory pre-call budget check, vs one dict lookup.
7. ``otel-llm-cost serve`` under load and ``kill -9``, and its throughput vs a discarding receiver
   (opt-in: ``--serve`` / ``--serve-only``).

Results are printed as a table and written to ``benchmarks/results/latest.json``; ``--docs`` also
writes the table, with the machine's description, as Markdown (``make bench``: docs/benchmarks.md). The exit status
is 1 when a correctness check fails (a pricing mismatch, rows that differ, lost spans); a missed
performance target is reported but does not fail the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the _helpers live next to this file
    sys.path.insert(0, str(HERE))

import _budgets  # noqa: E402
import _ingest  # noqa: E402
import _pricing  # noqa: E402
import _serve  # noqa: E402
import _span_end  # noqa: E402
import _views  # noqa: E402
from _workload import HTTP_ATTRIBUTES, llm_attribute_pool  # noqa: E402

DEFAULT_OUTPUT = HERE / "results" / "latest.json"


@dataclass(frozen=True)
class Config:
    span_end_spans: int = 10_000  # spans ended per side per round (plus as many for per-call timing)
    span_end_rounds: int = 5
    span_end_variants: tuple[str, ...] = ("isolated", "defaults")
    ingest_spans: int = 30_000
    ingest_baseline_rows: int = 300  # executemany does ~100-300 rows/s: a rate, from fewer rows
    ingest_batch_size: int = 1024  # the processor's default max_batch_size
    ingest_extra_batch_sizes: tuple[int, ...] = (8192,)
    ingest_rounds: int = 5
    ingest_with_processor: bool = True
    lookalike_spans: int = 1_000  # look-alike calls at this size and `lookalike_factor` times it
    lookalike_factor: int = 4
    lookalike_rounds: int = 3
    pricing_inputs: int = 2_000
    pricing_rounds: int = 5
    pricing_repeats: int = 10  # the Pricer is ~10x faster: loop it more for a stable time
    view_sizes: tuple[int, ...] = (1_000_000,)  # calls generated in llm_calls; --views-10m adds 10M
    view_rounds: int = 5
    budget_checks: int = 100_000  # check_budget() calls per side per round
    budget_rounds: int = 5

    @classmethod
    def quick(cls) -> Config:
        return cls(
            span_end_spans=2_000,
            span_end_rounds=3,
            ingest_spans=5_000,
            ingest_baseline_rows=100,
            ingest_extra_batch_sizes=(),
            ingest_rounds=3,
            lookalike_spans=500,
            lookalike_rounds=2,
            pricing_inputs=500,
            pricing_rounds=3,
            pricing_repeats=5,
            view_sizes=(200_000,),
            view_rounds=3,
            budget_checks=20_000,
            budget_rounds=3,
        )

    @classmethod
    def smoke(cls) -> Config:
        """A run in seconds, for tests: the figures exist, the timings mean nothing."""
        return cls(
            span_end_spans=200,
            span_end_rounds=2,
            ingest_spans=400,
            ingest_baseline_rows=20,
            ingest_batch_size=128,
            ingest_extra_batch_sizes=(),
            ingest_rounds=2,
            lookalike_spans=50,
            lookalike_factor=2,
            lookalike_rounds=1,
            pricing_inputs=120,
            pricing_rounds=2,
            pricing_repeats=2,
            view_sizes=(2_000,),
            view_rounds=2,
            budget_checks=500,
            budget_rounds=2,
        )


# (figure key, path to the value, comparison, threshold, what the issue asks for)
TARGETS: tuple[tuple[str, tuple[str, ...], str, float, str], ...] = (
    ("span_end_llm", ("isolated", "ratio", "median"), "<=", 1.10, "LLM span.end() ratio <= 1.10"),
    ("span_end_llm", ("defaults", "ratio", "median"), "<=", 1.10, "LLM span.end() ratio <= 1.10 (defaults)"),
    ("span_end_http", ("isolated", "ratio", "median"), "<=", 1.05, "non-LLM span.end() ratio <= 1.05"),
    ("span_end_http", ("defaults", "ratio", "median"), "<=", 1.05, "non-LLM span.end() ratio <= 1.05 (defaults)"),
    ("ingest", ("export_spans_per_s",), ">=", 50_000, "end-to-end ingest >= 50,000 spans/s"),
    ("ingest", ("export_vs_executemany", "median"), ">=", 50, "ingest >= 50x executemany"),
    ("pricing", ("speedup", "median"), ">=", 30, "Pricer >= 30x faster than calc_price"),
    ("budget_check", ("candidate_ns_per_op",), "<=", 10_000, "check_budget() under 10 µs"),
)


def run_all(config: Config, db_dir: Path, log: Any = None) -> dict[str, Any]:
    """Measure every figure; return the results document (also what latest.json holds)."""

    started = time.monotonic()
    revision = _git_revision()  # now: other people may commit to src/ while this runs

    def say(message: str) -> None:
        if log is not None:
            print(f"[{time.monotonic() - started:6.1f} s] {message}", file=log, flush=True)

    figures: dict[str, Any] = {}
    for key, span_name, attributes, stored in (
        ("span_end_llm", "chat gpt-4o-mini", llm_attribute_pool(), True),
        ("span_end_http", "GET /v1/orders/{id}", [HTTP_ATTRIBUTES], False),
    ):
        figures[key] = {}
        for variant in config.span_end_variants:
            say(f"  {key} [{variant}] ...")
            figures[key][variant] = _span_end.run(
                span_name=span_name,
                attributes=attributes,
                variant=variant,
                spans_per_round=config.span_end_spans,
                rounds=config.span_end_rounds,
                db_dir=db_dir,
                expect_stored=stored,
            )
    say("  ingest ...")
    figures["ingest"] = _ingest.run(
        spans_count=config.ingest_spans,
        baseline_count=config.ingest_baseline_rows,
        batch_size=config.ingest_batch_size,
        extra_batch_sizes=config.ingest_extra_batch_sizes,
        rounds=config.ingest_rounds,
        db_dir=db_dir,
        with_processor=config.ingest_with_processor,
    )
    say("  ingest scaling with look-alike calls ...")
    figures["lookalike_scaling"] = _ingest.run_lookalike_scaling(
        small=config.lookalike_spans,
        factor=config.lookalike_factor,
        rounds=config.lookalike_rounds,
        batch_size=config.ingest_batch_size,
        db_dir=db_dir,
    )
    say("  pricing ...")
    figures["pricing"] = _pricing.run(
        inputs=config.pricing_inputs, rounds=config.pricing_rounds, pricer_repeats=config.pricing_repeats
    )
    for rows in config.view_sizes:
        say(f"  views over {rows:,} calls ...")
        figures.setdefault("views", {}).update(_views.run((rows,), config.view_rounds, db_dir))
    say("  check_budget ...")
    figures["budget_check"] = _budgets.run(config.budget_checks, config.budget_rounds)
    say("done")
    return {
        "meta": _meta(config, time.monotonic() - started, revision),
        "figures": figures,
        "targets": evaluate_targets(figures),
        "checks": correctness_checks(figures),
    }


def _dig(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def evaluate_targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for figure, path, op, threshold, description in TARGETS:
        try:
            value = float(_dig(figures[figure], path))
        except KeyError:
            continue  # a variant that was not run
        met = value <= threshold if op == "<=" else value >= threshold
        results.append(
            {"target": description, "figure": ".".join((figure, *path)), "value": value, "threshold": threshold,
             "op": op, "met": met}
        )  # fmt: skip
    return results


def correctness_checks(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Everything that must hold exactly, whatever the machine: these fail the run."""
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: Any) -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    for key in ("span_end_llm", "span_end_http"):
        for variant, result in figures.get(key, {}).items():
            lost = {"baseline_dropped": result["baseline_dropped"], "candidate_dropped": result["candidate_dropped"]}
            check(f"{key}[{variant}]: no span dropped while measuring", not any(lost.values()), lost)
            stored = {"stored": result["candidate_stored"], "expected": result["candidate_expected_stored"]}
            check(f"{key}[{variant}]: every LLM span stored", stored["stored"] == stored["expected"], stored)
    if "ingest" in figures:
        ingest = figures["ingest"]
        for name, count in ingest["stored"].items():
            check(f"ingest: {name} stored every span", count == ingest["spans"], {"stored": count})
        for name, diff in ingest["identity"].items():
            same = diff["only_in_reference"] == 0 and diff["only_in_other"] == 0 and diff["rows"] > 0
            check(f"ingest: identical rows, {name}", same, diff)
    for rows, result in figures.get("views", {}).items():
        made = {"calls": result["calls"], "agent_runs": result["agent_runs"]}
        check(f"views[{rows}]: the generated table holds every call", result["calls"] == int(rows), made)
        empty = [view for view, r in result["views"].items() if r["result_rows"] == 0]
        check(f"views[{rows}]: every view answers with rows", len(result["views"]) >= 6 and not empty, empty)
        shape = {"models": result["models"], "days": result["days"]}
        check(f"views[{rows}]: 50 models over 90 days", shape == {"models": 50, "days": 90}, shape)
        report = {"report_calls": result["report"]["result_rows"], "calls": result["calls"] - result["duplicates"]}
        check(f"views[{rows}]: the report counts every call once", report["report_calls"] == report["calls"], report)
    if "pricing" in figures:
        identity = figures["pricing"]["identity"]
        check(
            "pricing: Pricer total == calc_price total (Decimal) for every input",
            identity["mismatches"] == 0 and identity["inputs"] > 0,
            identity,
        )
    if "budget_check" in figures:
        r = figures["budget_check"]
        check("budget_check: every decision matches the spend written", r["wrong_decisions"] == 0 and r["denied"] > 0,
              {"wrong": r["wrong_decisions"], "denied": r["denied"]})  # fmt: skip
    return checks


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git_revision() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
        # From the repository root: "src" relative to benchmarks/ matched nothing, so a dirty tree looked clean.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=HERE.parent, capture_output=True, text=True
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty-src" if dirty.stdout.strip() else "")


def _meta(config: Config, seconds: float, revision: str | None) -> dict[str, Any]:
    packages = ("otel-llm-cost", "opentelemetry-sdk", "duckdb", "pyarrow", "genai-prices")
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": revision,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "memory_gb": _memory_gb(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "packages": {name: _package_version(name) for name in packages},
        "config": asdict(config),
        "seconds": round(seconds, 1),
    }


def _fmt(value: float, unit: str = "") -> str:
    if unit == "x":
        return f"{value:,.2f}x" if value < 100 else f"{value:,.0f}x"
    if abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    return f"{value:,.2f}{unit}"


def render(results: dict[str, Any]) -> str:
    """The human-readable table of every figure, its baseline, the ratio and the targets."""
    figures = results["figures"]
    lines: list[str] = []
    row = "{:<44} {:>14} {:>14} {:>22}".format

    lines.append(row("figure", "candidate", "baseline", "ratio (median [min-max])"))
    lines.append("-" * 97)

    def spread(summary: dict[str, Any]) -> str:
        return f"{_fmt(summary['median'], 'x')} [{summary['min']:.2f}-{summary['max']:.2f}]"

    for key, label in (("span_end_llm", "1. span.end() LLM span"), ("span_end_http", "2. span.end() HTTP span")):
        for variant, r in figures.get(key, {}).items():
            lines.append(row(f"{label} [{variant}] ns/op", _fmt(r["candidate_ns_per_op"]),
                             _fmt(r["baseline_ns_per_op"]), spread(r["ratio"])))  # fmt: skip
            lines.append(row("     per-call p50 ns", _fmt(r["candidate_p50_ns"]), _fmt(r["baseline_p50_ns"]), ""))
            lines.append(row("     per-call p99 ns", _fmt(r["candidate_p99_ns"]), _fmt(r["baseline_p99_ns"]), ""))
    if "ingest" in figures:
        r = figures["ingest"]
        base = _fmt(r["executemany_rows_per_s"])
        lines.append(row(f"3. ingest export() spans/s (batch {r['batch_size']})", _fmt(r["export_spans_per_s"]),
                         base, spread(r["export_vs_executemany"])))  # fmt: skip
        for size, extra in r.get("extra_batch_sizes", {}).items():
            lines.append(row(f"     export() spans/s (batch {size})", _fmt(extra["export_spans_per_s"]), base,
                             spread(extra["export_vs_executemany"])))  # fmt: skip
        lines.append(row("     write_batch() rows/s (store only)", _fmt(r["write_batch_rows_per_s"]), base,
                         spread(r["write_batch_vs_executemany"])))  # fmt: skip
        lines.append(row("     calls_to_arrow() rows/s (part of it)", _fmt(r["arrow_rows_per_s"]), "", ""))
        stages = ", ".join(f"{name} {value:.1f}" for name, value in r["stages_us_per_span"].items())
        lines.append(f"     export() µs/span by stage: {stages}")
        if "processor_spans_per_s" in r:
            lines.append(row("     processor on_end..force_flush spans/s", _fmt(r["processor_spans_per_s"]), base,
                             spread(r["processor_vs_executemany"])))  # fmt: skip
    if "lookalike_scaling" in figures:
        r = figures["lookalike_scaling"]
        lines.append(row(f"   look-alike calls spans/s, {r['large']:,} vs {r['small']:,}",
                         _fmt(r["lookalike_large_spans_per_s"]), _fmt(r["lookalike_small_spans_per_s"]),
                         spread(r["large_vs_small"])))  # fmt: skip
        lines.append(row(f"   look-alike vs varied spans/s, {r['large']:,}", _fmt(r["lookalike_large_spans_per_s"]),
                         _fmt(r["varied_large_spans_per_s"]), spread(r["lookalike_vs_varied"])))  # fmt: skip
    if "pricing" in figures:
        r = figures["pricing"]
        lines.append(row("4. pricing µs/span (warm)", _fmt(r["pricer_us_per_span"]), _fmt(r["calc_price_us_per_span"]),
                         spread(r["speedup"])))  # fmt: skip
        lines.append(row("     Pricer cold µs/span (first use)", _fmt(r["pricer_cold_us_per_span"]), "", ""))
    for rows, r in figures.get("views", {}).items():
        lines.append(
            row(f"5. views over {_count(int(rows))} calls: ms", "", _fmt(r["baseline_ms"]), "(scan of llm_calls)")
        )
        for view, v in r["views"].items():
            lines.append(row(f"     {view}", _fmt(v["ms"]), _fmt(r["baseline_ms"]), spread(v["vs_scan"])))
        lines.append(row("     report (build_report)", _fmt(r["report"]["ms"]), _fmt(r["baseline_ms"]),
                         spread(r["report"]["vs_scan"])))  # fmt: skip
        slowest = r["slowest_view"]
        lines.append(f"     file: {r['file_mb_per_million_calls']:,.1f} MB per million calls; slowest view"
                     f" {slowest['view']} {_fmt(slowest['ms'])} ms (target < {slowest['target_ms']:,} ms:"
                     f" {'met' if slowest['met'] else 'missed'})")  # fmt: skip
    if "budget_check" in figures:
        r = figures["budget_check"]
        lines.append(row(f"6. check_budget() ns/op ({r['budgets']} budgets)", _fmt(r["candidate_ns_per_op"]),
                         _fmt(r["baseline_ns_per_op"]), spread(r["ratio"])))  # fmt: skip
    lines.append("")
    lines.append(
        "ratios: 1-2 are candidate/baseline time (lower is better); 3-4 are candidate/baseline speed;"
        " 5 is view/scan time; 6 is check_budget()/dict lookup time."
    )
    lines.append("")
    for target in results["targets"]:
        mark = "MET   " if target["met"] else "MISSED"
        lines.append(f"  [{mark}] {target['target']}: {_fmt(target['value'])}")
    failed = [c for c in results["checks"] if not c["ok"]]
    lines.append(
        f"  correctness: {len(results['checks']) - len(failed)}/{len(results['checks'])} checks passed"
        + "".join(f"\n  [FAILED] {c['check']}: {c['detail']}" for c in failed)
    )
    meta = results["meta"]
    lines.append(f"\n{meta['date']}  git {meta['git']}  {meta['platform']}  cpus={meta['cpus']}  "
                 f"load={meta['load_average']}  {meta['seconds']} s")  # fmt: skip
    return "\n".join(lines)


def _count(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 and rows % 1_000_000 == 0 else f"{rows:,}"


def render_markdown(results: dict[str, Any], table: str) -> str:
    """docs/benchmarks.md: the machine, the packages, the run's table and its targets."""
    meta = results["meta"]
    packages = ", ".join(f"{name} {v}" for name, v in meta["packages"].items() if v)
    views = ", ".join(_count(int(rows)) for rows in results["figures"].get("views", {}))
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `make bench` (`benchmarks/run.py --docs docs/benchmarks.md`); the method, what each",
            "figure times and against which baseline, is in [benchmarks/README.md](../benchmarks/README.md).",
            "Every ratio is against a baseline measured in the same process, in interleaved rounds: the",
            "median over rounds, with the min-max spread. Tests never time anything.",
            "",
            "## The machine",
            "",
            f"- {meta['run']} run, {meta['date']}, git `{meta['git']}`, {meta['seconds']} s",
            f"- {meta.get('cpu') or meta['machine']}, {meta['cpus']} CPUs, {meta.get('memory_gb', '?')} GB;"
            f" load average at the start {meta['load_average']}",
            f"- {meta['platform']}, Python {meta['python']}",
            f"- {packages}",
            f"- views over: {views or 'not run'} generated calls"
            + (
                " (the 10M with `--views-10m`)"
                if "10000000" in results["figures"].get("views", {})
                else " (10M: `benchmarks/run.py --views-10m`)"
            ),
            "- `serve` throughput: not built yet",
            "",
            "A load average above the CPU count means other work shared the machine during the run: the",
            "ratios, measured in interleaved rounds, hold up under it far better than the absolute times.",
            "",
            "## Results",
            "",
            "```",
            table,
            "```",
            "",
        ]
    )


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _clean_environment() -> None:
    """Library defaults, not this shell's settings: the 'defaults' variant must mean the defaults."""
    for name in list(os.environ):
        if name.startswith(("OTEL_LLM_COST_", "OTEL_BSP_")):
            del os.environ[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (~30 s): smaller N, fewer rounds")
    parser.add_argument("--smoke", action="store_true", help="a run of seconds whose timings mean nothing (tests)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    parser.add_argument(
        "--views-10m", action="store_true", help="also time the views over 10M calls (~3 more minutes on 2 cores)"
    )
    parser.add_argument("--docs", type=Path, help="also write the table, with the machine, as Markdown here")
    parser.add_argument(
        "--serve", action="store_true", help="also figure 7: otel-llm-cost serve under load, kill -9, throughput"
    )
    parser.add_argument("--serve-only", action="store_true", help="figure 7 only")
    args = parser.parse_args(argv)

    _clean_environment()
    kind = "smoke" if args.smoke else "quick" if args.quick else "full"
    config = Config.smoke() if args.smoke else Config.quick() if args.quick else Config()
    if args.views_10m:
        config = replace(config, view_sizes=(*config.view_sizes, 10_000_000))
    print(f"otel-llm-cost benchmarks ({kind} run)", flush=True)
    if args.serve_only:
        return _serve.main_figure(kind, args.output)
    with tempfile.TemporaryDirectory(prefix="otel-llm-cost-bench-") as tmp:
        results = run_all(config, Path(tmp), log=sys.stdout)
        if args.serve:
            results["figures"]["serve"] = _serve.run_sized(kind, Path(tmp) / "serve")
            results["checks"] += _serve.checks(results["figures"]["serve"])
    results["meta"]["run"] = kind
    table = render(results)
    print()
    print(table)
    if args.serve:
        print(_serve.render(results["figures"]["serve"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults written to {args.output}")
    if args.docs is not None:
        args.docs.parent.mkdir(parents=True, exist_ok=True)
        args.docs.write_text(render_markdown(results, table))
        print(f"table written to {args.docs}")
    return 0 if all(check["ok"] for check in results["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
