"""``report --html``: a self-contained page whose charts really render, checked in headless Chromium.

Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it) opens the file with every network
request refused. The page must log nothing to the console (Chromium's ``--enable-logging`` prints
console messages and uncaught errors as ``CONSOLE`` lines; a control page proves the check catches
them), every chart must be drawn as SVG in the DOM, and the screenshot must show Plotly's colours.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from otel_llm_cost._report_html import CHART_IDS
from otel_llm_cost.cli import cli
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Pricer
from otel_llm_cost.store import DuckDBStore

CHROMIUM = shutil.which("chromium")
# Plotly's first two series colours (#636efa, #ef553b): bars and rings the page draws.
PLOTLY_BLUE, PLOTLY_RED = (99, 110, 250), (239, 85, 59)


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does it)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        # Works offline: any host name fails to resolve, so a CDN script would fail, and log.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        # Let the page's scripts run to completion (Plotly draws asynchronously) before dumping.
        "--virtual-time-budget=3000",
    ]  # fmt: skip
    return subprocess.run([CHROMIUM, *flags, *args, page.as_uri()], capture_output=True, text=True, timeout=60)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def record(span: str, day: int, hour: int, **fields: Any) -> CallRecord:
    start = int(datetime(2026, 11, day, hour, tzinfo=timezone.utc).timestamp()) * 10**9
    base = CallRecord(
        trace_id=span * 32, span_id=span * 16, parent_span_id=None, start_time_ns=start, end_time_ns=start + 10**9,
        span_name="chat", service_name="api", environment="production", provider="openai", operation="chat",
        request_model="gpt-4o", response_model=None, response_id=None, input_tokens=2_000, output_tokens=300,
        cache_read_tokens=None, cache_write_tokens=None, reasoning_tokens=None, user_id="alice", conversation_id=None,
        agent_name=None, status_code="UNSET", error_type=None, reported_cost_usd=None,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The HTML report of a few calls priced by the real catalog: three models, cache reads, one unknown model."""
    folder = tmp_path_factory.mktemp("html")
    db = folder / "cost.duckdb"
    records = [
        record("1", 18, 10, cache_read_tokens=1_500),
        record("2", 19, 11, provider="anthropic", request_model="claude-sonnet-4-5", input_tokens=9_000,
               cache_read_tokens=6_000, cache_write_tokens=2_000, user_id="bob"),
        record("3", 20, 12, request_model="gpt-4o-mini", user_id="carol"),
        record("4", 20, 13, provider="acme", request_model="acme-llm-2", user_id="<script>alert(1)</script>"),
    ]  # fmt: skip
    pricer = Pricer()
    with DuckDBStore(db) as store:
        store.write_batch([(r, pricer.price(r)) for r in records], pricer.take_new_plans())
    out = folder / "report.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--since", "2026-11-15", "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out} (") and "5 charts, 4 calls" in result.output
    yield out


def test_the_page_is_self_contained(page: Path) -> None:
    text = page.read_text("utf-8")
    assert not re.search(r"<script[^>]+src=", text)  # the Plotly bundle is inline
    # Outside that bundle (whose code holds links it never fetches), nothing points to the network.
    head, bundle_and_rest = text.split('<script type="text/javascript">', 1)
    assert not re.search(r"""(src|href)=["']?https?:""", head + bundle_and_rest.split("</script>", 1)[1])
    assert text.count('<section class="chart"') == len(CHART_IDS) == 5
    assert "<script>alert(1)</script>" not in text  # a user id is data, escaped inside the figure JSON


def test_charts_render_in_chromium_without_console_errors(page: Path, tmp_path: Path) -> None:
    result = chromium(page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_lines(result.stderr) == []
    dom = result.stdout
    for chart_id in CHART_IDS:
        section = dom.split(f'id="{chart_id}"', 1)[1].split("</section>", 1)[0]
        # Plotly replaces its empty div with SVG layers once it has drawn the figure.
        assert 'class="main-svg"' in section, f"chart {chart_id} was not drawn"
    assert "Top 3 users by cost" in dom and "Unpriced: 25.0% of calls" in dom


def test_the_console_check_catches_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text('<script src="https://cdn.example.com/plotly.js"></script><script>Plotly.newPlot()</script>')
    result = chromium(broken, tmp_path / "profile", "--dump-dom")
    assert any("Plotly is not defined" in line for line in console_lines(result.stderr))


def test_the_screenshot_shows_the_charts(page: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    result = chromium(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,3000")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    counts = {colour: count for count, colour in colours}
    assert len(counts) > 100  # text, axes, bars and rings, not a blank page
    # Bars and rings in Plotly's colours cover a real area, not a pixel or two.
    assert counts.get(PLOTLY_BLUE, 0) > 5_000 and counts.get(PLOTLY_RED, 0) > 1_000


def test_without_plotly_the_error_says_what_to_install(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_plotly(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("plotly"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_plotly)
    db = str(next(page.parent.glob("*.duckdb")))
    result = CliRunner().invoke(cli, ["report", "--db", db, "--html", str(tmp_path / "x.html")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        result.output
        == "Error: the HTML report needs plotly: pip install 'otel-llm-cost[html]' (or pip install plotly)\n"
    )
    assert not (tmp_path / "x.html").exists()
