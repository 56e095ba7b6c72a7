"""A throwaway PostgreSQL server for tests: Debian's binaries, a temp folder, 127.0.0.1, a free port.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (which
Debian's package creates), or ``nobody``. ``.ci/run`` installs the package on a clean machine.
Durability settings are off (``fsync``): the tests kill our writers, never the server.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def postgres_bindir() -> Path | None:
    """The folder of initdb/pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else the PATH's."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    if versions:
        return versions[0].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@dataclass
class PostgresServer:
    bindir: Path
    folder: Path
    port: int
    user: str | None  # the OS user the server runs as; None: this process's

    def dsn(self, dbname: str) -> str:
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user=postgres"

    def create_database(self, dbname: str) -> str:
        """Create an empty database; return its libpq DSN."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", dbname)
        return self.dsn(dbname)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self.folder)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it and delete its folder."""
    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL's initdb was not found (apt-get install postgresql)")
    user = _server_user()
    folder = Path(tempfile.mkdtemp(prefix="otel-llm-cost-pg-"))
    if user is not None:
        shutil.chown(folder, user)
    server = PostgresServer(bindir, folder, _free_port(), user)
    data = str(folder / "data")
    try:
        server._run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder} -c fsync=off -c full_page_writes=off"
        server._run("pg_ctl", "-D", data, "-l", str(folder / "log"), "-w", "-t", "60", "-o", options, "start")
        try:
            yield server
        finally:
            server._run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
