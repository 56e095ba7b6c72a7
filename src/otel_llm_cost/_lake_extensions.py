"""Load DuckDB's ``ducklake`` and ``postgres`` extensions offline, from their PyPI wheels.

The wheels ``duckdb-extension-ducklake`` and ``duckdb-extension-postgres`` (the ``[lake]`` extra)
hold DuckDB's own signed binaries, built for one DuckDB release, at
``duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension``. Their helper
package (``duckdb-extensions``) would ``INSTALL`` that file, which copies ~40 MB per extension
into ``~/.duckdb`` on every new machine. Instead each file is ``LOAD``-ed in place, through a
symlink named after the extension's entry point (DuckDB derives the init symbol from the file
name, and the postgres binary's is ``postgres_scanner``).

Connections made here have autoinstall and autoload off: an extension that is missing or built
for another DuckDB is an error naming the fix, never a download at run time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from importlib import metadata, resources
from pathlib import Path
from typing import Final

import duckdb

from otel_llm_cost.store import StoreUnavailable

# Extension -> the name DuckDB gives its entry point (the init symbol is <name>_duckdb_cpp_init).
_ENTRY_NAMES: Final = {"postgres": "postgres_scanner", "ducklake": "ducklake"}

# Settings for every connection that may load a lake: nothing is fetched or loaded implicitly.
OFFLINE_CONFIG: Final = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}

_lock = threading.Lock()
_links: dict[str, Path] = {}  # extension -> symlink to its wheel's binary, made once per process


class ExtensionUnavailable(StoreUnavailable):
    """An extension wheel is missing, or was built for another DuckDB release than the one installed."""


def duckdb_version() -> str:
    """The running DuckDB's release, as DuckDB names it (``v1.5.5``)."""
    return f"v{duckdb.__version__}"


def extension_file(name: str) -> Path:
    """The binary of extension ``name`` for the running DuckDB, from its PyPI wheel.

    Raises:
        ExtensionUnavailable: the wheel is not installed, or holds no build for this DuckDB.
    """
    package = f"duckdb_extension_{name}"
    distribution = f"duckdb-extension-{name}"
    version = duckdb_version()
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise ExtensionUnavailable(
            f"the DuckDB {name} extension is not installed: pip install 'otel-llm-cost[lake]'"
            f" (it brings {distribution} for the pinned duckdb)"
        ) from None
    path = Path(str(root)) / "extensions" / version / f"{name}.duckdb_extension"
    if not path.is_file():
        try:
            built_for = f"duckdb {metadata.version(distribution)}"
        except metadata.PackageNotFoundError:
            built_for = "another duckdb"
        raise ExtensionUnavailable(
            f"{distribution} is built for {built_for}, but duckdb {version.lstrip('v')} is installed: "
            "pip install 'otel-llm-cost[lake]' installs matching versions"
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...] = ("postgres", "ducklake")) -> None:
    """``LOAD`` each extension from its wheel into ``con`` (a few tens of milliseconds each)."""
    for name in names:
        con.execute(f"LOAD '{_sql_text(str(_link(name)))}'")


def _link(name: str) -> Path:
    target = extension_file(name)  # checked on every load: a later pip install may change duckdb
    with _lock:
        link = _links.get(name)
        if link is not None and link.exists() and link.resolve() == target.resolve():
            return link
        folder = Path(tempfile.mkdtemp(prefix="otel-llm-cost-ext-"))
        atexit.register(_remove, folder, os.getpid())
        link = folder / f"{_ENTRY_NAMES.get(name, name)}.duckdb_extension"
        link.symlink_to(target)
        _links[name] = link
        return link


def _remove(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # a forked child inherits this hook, and the parent still uses the folder
        shutil.rmtree(folder, ignore_errors=True)


def _sql_text(value: str) -> str:
    """``value`` for use inside a single-quoted SQL string literal."""
    return value.replace("'", "''")
