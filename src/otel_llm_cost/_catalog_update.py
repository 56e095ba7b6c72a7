"""``otel-llm-cost prices update``: fetch the published genai-prices catalog, only when a user asks.

Nothing here runs at import or at span time. The feed is validated with genai-prices' own types
and compared with the catalog in use; a feed that moves many rates by a large factor (a unit
mix-up, a broken export) is refused unless ``--force``. It is stored at
:envvar:`OTEL_LLM_COST_CATALOG_FILE` (default ``<user config dir>/otel-llm-cost/genai-prices-data.json``),
where processors and the CLI find it; delete the file to go back to the bundled catalog.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Final

import click
from genai_prices import data_snapshot
from genai_prices.update_prices import DEFAULT_UPDATE_URL

from otel_llm_cost import environment_variables as env
from otel_llm_cost._price_diff import CatalogFileError, diff, large_changes, load_catalog_file, parse_catalog
from otel_llm_cost.pricing import COMPUTED, PRICE_VERSION, Pricer

# A feed is refused when more than this many rates change by more than LARGE_FACTOR either way.
MAX_LARGE_CHANGES: Final = 10
LARGE_FACTOR: Final = Decimal(3)
_MAX_FEED_BYTES: Final = 64 * 1024 * 1024


def stored_catalog_path() -> Path:
    """Where ``prices update`` stores the catalog (and where it is read from)."""
    configured = os.environ.get(env.OTEL_LLM_COST_CATALOG_FILE, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(click.get_app_dir("otel-llm-cost")) / "genai-prices-data.json"


def catalog_in_use() -> tuple[data_snapshot.DataSnapshot, str]:
    """The stored catalog when ``prices update`` has stored one, else the bundled one (no network)."""
    path = stored_catalog_path()
    if not path.is_file():
        return data_snapshot.get_snapshot(), PRICE_VERSION
    return _load_stored(str(path), path.stat().st_mtime_ns)


def configured_pricer(prices_file: str | os.PathLike[str] | None = None, *, prefer: str = COMPUTED) -> Pricer:
    """The pricer a process prices with: the catalog in use plus the overrides file (the argument,
    else :envvar:`OTEL_LLM_COST_PRICES_FILE`). Raises OverridesError (a ValueError naming the
    line and key) for a bad file: at configuration time, never at span time."""
    path = prices_file
    if path is None:
        path = os.environ.get(env.OTEL_LLM_COST_PRICES_FILE, "").strip() or None
    snapshot, version = catalog_in_use()
    return Pricer(snapshot=snapshot, catalog_version=version, prices_file=path, prefer=prefer)


@cache
def _load_stored(path: str, _mtime_ns: int) -> tuple[data_snapshot.DataSnapshot, str]:
    return load_catalog_file(path)  # once per file version: parsing the catalog takes ~0.5 s


@click.command("update")
@click.option("--url", default=DEFAULT_UPDATE_URL, show_default=True, help="Where to fetch the catalog JSON from.")
@click.option(
    "--force", is_flag=True, help=f"Store it even if more than {MAX_LARGE_CHANGES} rates move {LARGE_FACTOR}x."
)
@click.option("--timeout", type=click.FloatRange(1, 600), default=30, show_default=True, help="Seconds to wait.")
def update_command(url: str, force: bool, timeout: float) -> None:
    """Fetch the published genai-prices catalog and use it from now on (the only command that
    uses the network).

    \b
    The feed is checked with genai-prices' own types and compared with the catalog in use. Where it
    is stored: $OTEL_LLM_COST_CATALOG_FILE, else the user config folder. Delete that file to go
    back to the catalog bundled with genai-prices.
    """
    raw = _fetch(url, timeout)
    try:
        snapshot, version = parse_catalog(raw, url)
    except CatalogFileError as exc:
        raise click.ClickException(f"refusing the feed: {exc}") from exc
    old_snapshot, old_version = catalog_in_use()
    today = datetime.now(timezone.utc).date()
    changes = diff(Pricer(snapshot=old_snapshot, catalog_version=old_version),
                   Pricer(snapshot=snapshot, catalog_version=version), today)  # fmt: skip
    large = large_changes(changes, factor=LARGE_FACTOR)
    if len(large) > MAX_LARGE_CHANGES and not force:
        examples = "; ".join(f"{c.provider_id}/{c.model_id} {c.price_key} {c.old} → {c.new}" for c in large[:3])
        raise click.ClickException(
            f"refusing the feed: {len(large)} rates change by more than {LARGE_FACTOR}x (e.g. {examples});"
            " check it, then run again with --force"
        )
    path = stored_catalog_path()
    _write_atomically(path, raw)
    counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in ("changed", "added", "removed")}
    click.echo(
        f"stored {version} at {path}: {counts['changed']} changed, {counts['added']} added, "
        f"{counts['removed']} removed rates compared with {old_version}"
    )


def _fetch(url: str, timeout: float) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise click.ClickException(f"--url must be an http(s) address, got {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            raw: bytes = response.read(_MAX_FEED_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response (and its socket) open
        raise click.ClickException(f"fetching {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"fetching {url} failed: {reason}") from exc
    if len(raw) > _MAX_FEED_BYTES:
        raise click.ClickException(f"refusing the feed: larger than {_MAX_FEED_BYTES // 2**20} MiB")
    return raw


def _write_atomically(path: Path, raw: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".catalog-", delete=False) as tmp:
            tmp.write(raw)
        os.replace(tmp.name, path)
    except OSError as exc:
        raise click.ClickException(f"cannot store the catalog at {path}: {exc.strerror or exc}") from exc
