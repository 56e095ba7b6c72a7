"""Packaging: the built wheel carries sql/ as otel_llm_cost/sql, and an installed copy finds it.

The checkout finds sql/ at the repository root, so only a wheel shows whether hatchling's
force-include works. Building takes about a second (no build isolation, no network).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_OFFLINE = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _sql_names(names: set[str]) -> set[str]:
    return {n for n in names if n.startswith("otel_llm_cost/sql/")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, **_OFFLINE}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if build.returncode != 0 and "No module named pip" in build.stderr:
        pytest.skip("pip is not installed in this environment")
    assert build.returncode == 0, build.stderr
    (built,) = out.glob("otel_llm_cost-*.whl")
    yield built


def test_wheel_contains_the_sql(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"otel_llm_cost/sql/{p.relative_to(ROOT / 'sql').as_posix()}" for p in (ROOT / "sql").rglob("*.sql")}
    assert {
        "otel_llm_cost/sql/migrations/0001_initial.sql",
        "otel_llm_cost/sql/migrations/0001_initial.down.sql",
        "otel_llm_cost/sql/migrations/0002_reported_cost.sql",
        "otel_llm_cost/sql/migrations/0002_reported_cost.down.sql",
        "otel_llm_cost/sql/views/llm_daily_cost.sql",
    } <= expected
    assert expected <= names  # every file in sql/, none forgotten
    assert "otel_llm_cost/py.typed" in names
    assert not any(n.startswith("sql/") for n in names)  # not also dumped at the top level


_PROBE = """
import json, otel_llm_cost
from otel_llm_cost import migrations
from otel_llm_cost.store import DuckDBStore
with DuckDBStore(":memory:") as store:
    views = [r[0] for r in store.con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal UNION ALL SELECT function_name"
        " FROM duckdb_functions() WHERE function_type = 'table_macro' AND NOT internal ORDER BY 1").fetchall()]
    applied = migrations.applied(store.con)
print(json.dumps({
    "package": otel_llm_cost.__file__,
    "version": otel_llm_cost.__version__,
    "sql_dir": str(migrations.sql_dir()),
    "migrations": [m.name for m in migrations.load_migrations()],
    "views": [v.name for v in migrations.view_files()],
    "applied": applied,
    "created_views": views,
}))
"""


def test_installed_wheel_finds_its_sql(wheel: Path, tmp_path: Path) -> None:
    """Unpack the wheel (what an installer does for a pure-Python wheel) and import it from there.

    A fresh venv would need every dependency installed again, which needs the network, so the
    unpacked wheel goes first on PYTHONPATH ahead of this environment's editable install, and the
    probe runs from a folder outside the checkout.
    """
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert Path(found["package"]).is_relative_to(site)
    # importlib.resources found the packaged copy, not the checkout's sql/.
    assert Path(found["sql_dir"]) == site / "otel_llm_cost" / "sql"
    assert found["version"] == wheel.name.split("-")[1]  # metadata came from the wheel's dist-info
    assert found["migrations"] == sorted(p.name.removesuffix(".sql") for p in (ROOT / "sql/migrations").glob("*.sql")
                                         if not p.name.endswith(".down.sql"))  # fmt: skip
    assert found["views"] == sorted(p.name for p in (ROOT / "sql/views").glob("*.sql"))
    assert found["applied"] == found["migrations"]
    # Each file creates the view (or table macro) it is named after; llm_month_to_date.sql also
    # creates the macro its view is built on.
    named = [name.removesuffix(".sql") for name in found["views"]]
    assert sorted(found["created_views"]) == sorted([*named, "llm_month_to_date_at"])


def test_wheel_built_from_the_sdist_has_the_same_sql(wheel: Path, tmp_path: Path) -> None:
    """Distributions rebuild from the sdist: it must carry sql/ too."""
    env = {**os.environ, **_OFFLINE}
    sdist = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path / "sdist")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert sdist.returncode == 0, sdist.stderr
    (tarball,) = (tmp_path / "sdist").glob("otel_llm_cost-*.tar.gz")
    rebuilt = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(tarball), "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "wheel")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    (from_sdist,) = (tmp_path / "wheel").glob("otel_llm_cost-*.whl")
    sql = _sql_names(set(zipfile.ZipFile(from_sdist).namelist()))
    assert sql == _sql_names(set(zipfile.ZipFile(wheel).namelist()))
    assert "otel_llm_cost/sql/migrations/0001_initial.sql" in sql
