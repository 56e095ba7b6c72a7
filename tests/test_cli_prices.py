"""``otel-llm-cost prices``: show, list, check, diff, and update against a local HTTP server."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner, Result
from genai_prices import data_snapshot, types

from otel_llm_cost._processor_config import _pricer
from otel_llm_cost.cli import cli

TOML = """\
[models.my-llama]
provider = "self-hosted"
input_mtok = 0.2
output_mtok = 0.6

[discounts]
"openai/gpt-4o" = 20
"""


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def test_show_gives_the_resolved_model_and_every_rate_with_dates_and_tiers() -> None:
    result = run("prices", "show", "claude-sonnet-4-5-20250929", "--provider", "anthropic", "--format", "json",
                 "--at", "2026-11-20")  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["provider_id"], shown["model_id"], shown["at"]) == ("anthropic", "claude-sonnet-4-5", "2026-11-20")
    by_variant = {p["variant"]: p for p in shown["prices"]}
    assert by_variant[""]["rates"]["input_mtok"] == "3 (>200000: 6)"
    assert by_variant[""]["in_force"] is True
    assert (by_variant["processing=batch"]["effective_from"], by_variant["processing=batch"]["in_force"]) == (
        "2026-10-14", True)  # fmt: skip
    before = json.loads(run("prices", "show", "claude-sonnet-4-5", "--format", "json", "--at", "2026-01-01").output)
    assert [p["in_force"] for p in before["prices"] if p["variant"] == "processing=batch"] == [False]
    table = run("prices", "show", "gpt-5", "--at", "2026-11-20")
    assert "openai/gpt-5" in table.output and "service_tier=flex" in table.output and "2026-10-12" in table.output


def test_show_and_list_apply_an_overrides_file(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(TOML, "utf-8")
    shown = json.loads(run("prices", "show", "my-llama", "--prices-file", str(prices), "--format", "json").output)
    assert [(p["rates"], p["source"]) for p in shown["prices"]] == [
        ({"input_mtok": "0.2", "output_mtok": "0.6"}, "overrides")]  # fmt: skip
    listed = json.loads(run("prices", "list", "--provider", "self-hosted", "--format", "json",
                            env={"OTEL_LLM_COST_PRICES_FILE": str(prices)}).output)  # fmt: skip
    assert [p["model_id"] for p in listed] == ["my-llama"]


def test_list_filters_by_provider() -> None:
    result = run("prices", "list", "--provider", "anthropic", "--format", "json", "--at", "2026-11-20")
    listed = json.loads(result.output)
    assert {p["provider_id"] for p in listed} == {"anthropic"}
    assert {"claude-sonnet-4-5", "claude-haiku-4-5"} <= {p["model_id"] for p in listed}
    assert "│ anthropic │ claude-haiku-4-5" in run("prices", "list", "--provider", "anthropic").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "gpt-99-ultra"), "Error: no price for model 'gpt-99-ultra' in genai-prices=="),
        (("list", "--provider", "nobody"), "Error: no models for provider 'nobody'"),
        (("diff",), "Error: give --prices-file and/or --catalog: what to compare with the catalog in use"),
        (("show", "gpt-4o", "--prices-file", "/nonexistent/p.toml"),
         "Error: /nonexistent/p.toml: cannot read the prices file: No such file or directory"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    result = run("prices", *args)
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_check_validates_a_file(tmp_path: Path) -> None:
    good = tmp_path / "prices.toml"
    good.write_text(TOML, "utf-8")
    result = run("prices", "check", str(good))
    assert result.exit_code == 0
    assert result.output.startswith(f"{good}: OK (1 custom models, 1 discounts, 0 fixes; price_version suffix +overr")
    bad = tmp_path / "bad.toml"
    bad.write_text("[models.my-llm]\n\ninput_mtok = 'abc'\n", "utf-8")
    result = run("prices", "check", str(bad))
    assert (result.exit_code, result.output) == (
        1, 'Error: bad.toml line 3: models.my-llm.input_mtok: must be a non-negative number, got "abc"\n')  # fmt: skip


def test_diff_shows_what_an_overrides_file_changes(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(TOML, "utf-8")
    result = run("prices", "diff", "--prices-file", str(prices), "--at", "2026-11-20", "--format", "json")
    changes = json.loads(result.output)
    gpt_4o = [(c["variant"], c["rate"], c["old"], c["new"]) for c in changes if c["model_id"] == "gpt-4o"
              and c["provider_id"] == "openai" and c["variant"] == ""]  # fmt: skip
    # $2.5 in, $1.25 cached, $10 out less 20%; web and file searches are discounted too
    assert gpt_4o == [("", "cache_read_mtok", "1.25", "1.000"), ("", "input_mtok", "2.5", "2.00"),
                      ("", "output_mtok", "10", "8.0"), ("", "storage_searches_kcount", "2.5", "2.00"),
                      ("", "web_searches_kcount", "10", "8.0")]  # fmt: skip
    added = [(c["model_id"], c["rate"], c["change"]) for c in changes if c["change"] == "added"]
    assert added == [("my-llama", "input_mtok", "added"), ("my-llama", "output_mtok", "added")]
    assert {c["model_id"] for c in changes} == {"gpt-4o", "my-llama"}
    table = run("prices", "diff", "--prices-file", str(prices), "--at", "2026-11-20").output
    assert "changed, 2 added, 0 removed rates on 2026-11-20." in table


# --- prices update: a local HTTP server, never the network ------------------------------------


def feed(factor: Decimal = Decimal(1), models: int = 12) -> bytes:
    """A small genai-prices catalog: the first OpenAI models with their input/output rates times ``factor``."""
    openai = next(p for p in data_snapshot.get_snapshot().providers if p.id == "openai")
    entries: list[dict[str, Any]] = []
    for model in openai.models:
        price = model.prices
        if isinstance(price, types.ModelPrice) and isinstance(price.input_mtok, Decimal) and price.input_mtok > 0:
            rates = {"input_mtok": str(price.input_mtok * factor)}
            if isinstance(price.output_mtok, Decimal):
                rates["output_mtok"] = str(price.output_mtok * factor)
            entries.append({"id": model.id, "match": {"equals": model.id}, "prices": rates})
        if len(entries) == models:
            break
    return json.dumps([{"id": "openai", "name": "OpenAI", "api_pattern": "https://api\\.openai\\.com",
                        "models": entries}]).encode()  # fmt: skip


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes]]]:
    pages: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", pages
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_update_stores_a_valid_feed_which_is_then_used(tmp_path: Path, server: tuple[str, dict[str, bytes]]) -> None:
    base, pages = server
    pages["/data.json"] = feed()
    stored = tmp_path / "catalog" / "data.json"
    env = {"OTEL_LLM_COST_CATALOG_FILE": str(stored)}
    result = run("prices", "update", "--url", f"{base}/data.json", env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("stored genai-prices-data@") and str(stored) in result.output
    assert stored.read_bytes() == pages["/data.json"]
    first_model = json.loads(pages["/data.json"])[0]["models"][0]["id"]
    shown = json.loads(run("prices", "show", first_model, "--provider", "openai", "--format", "json", env=env).output)
    assert shown["price_version"].startswith("genai-prices-data@")
    with mock.patch.dict(os.environ, env):
        assert _pricer(None, None).price_version == shown["price_version"]  # processors use it too


def test_update_refuses_a_feed_that_moves_many_rates_by_large_factors(
    tmp_path: Path, server: tuple[str, dict[str, bytes]]
) -> None:
    base, pages = server
    pages["/data.json"] = feed(Decimal(100))
    stored = tmp_path / "data.json"
    env = {"OTEL_LLM_COST_CATALOG_FILE": str(stored)}
    result = run("prices", "update", "--url", f"{base}/data.json", env=env)
    assert result.exit_code == 1
    assert result.output.startswith("Error: refusing the feed: 24 rates change by more than 3x (e.g. openai/")
    assert result.output.endswith("check it, then run again with --force\n")
    assert not stored.exists()
    forced = run("prices", "update", "--url", f"{base}/data.json", "--force", env=env)
    assert forced.exit_code == 0 and stored.exists()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/missing.json", None, "Error: fetching {url} failed: HTTP 404 Not Found\n"),
        ("/dict.json", b'{"providers": []}',
         "Error: refusing the feed: {url}: a genai-prices catalog is a JSON list of providers\n"),
        ("/html", b"<html>", "Error: refusing the feed: {url}: not JSON: Expecting value: line 1 column 1 (char 0)\n"),
    ],
)  # fmt: skip
def test_update_refuses_what_is_not_a_catalog(
    tmp_path: Path, server: tuple[str, dict[str, bytes]], path: str, body: bytes | None, message: str
) -> None:
    base, pages = server
    if body is not None:
        pages[path] = body
    stored = tmp_path / "data.json"
    result = run("prices", "update", "--url", base + path, env={"OTEL_LLM_COST_CATALOG_FILE": str(stored)})
    assert (result.exit_code, result.output) == (1, message.format(url=base + path))
    assert not stored.exists()
