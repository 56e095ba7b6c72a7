"""The receive journal: every accepted request is on disk (fsynced) before it is acknowledged.

``serve`` acknowledges a request once its bytes are appended here, not once its spans are
committed: a client that waits for each answer is then not held up by the transaction, and the
writer can commit many requests in one large transaction, which costs far less per span (see
``benchmarks/_serve.py``). The journal is what makes that safe:

* A record is ``length (4 bytes) | crc32 (4 bytes) | OTLP protobuf ExportTraceServiceRequest``,
  appended to the current segment file and ``fdatasync``-ed before the 200 / OK is sent.
* Segments are numbered; a new one starts past ``segment_bytes``. Records reach the writer in
  journal order, so once a record is committed every earlier one is too, and the writer deletes
  the segments wholly before it (:meth:`Journal.release`).
* At start, before accepting anything, :meth:`Journal.recover` yields every record still on disk:
  those a crash (``kill -9``, power loss) left unwritten, and perhaps some already committed just
  before it, which the store's insert-or-ignore on ``(trace_id, span_id)`` stores once. A record
  torn by the crash (short, or failing its checksum) is at the tail and was never acknowledged:
  it is cut off.
* One server per journal: the folder is ``flock``-ed while a server uses it. Servers that share
  a DuckLake (each its own process, perhaps on one host) each need their own journal.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")  # payload length, crc32 of the payload
_SUFFIX = ".otlp"


class JournalInUse(OSError):
    """Another running process holds the journal folder."""


class Journal:
    """Append-only segment files in ``directory`` (created, owner-only).

    ``append`` is called under the caller's lock together with the hand-over to the writer, so
    journal order and writing order are the same.
    """

    def __init__(self, directory: str | os.PathLike[str], *, segment_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A lock on the folder itself (no lock file among the segments); the kernel drops it when
        # the process dies, so a crash never leaves the journal locked.
        self._dir_fd: int | None = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(self._dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._dir_fd)
            raise JournalInUse(
                f"the journal {str(self.directory)!r} is in use by another running server;"
                " give each server its own --journal-dir"
            ) from None
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        numbers = self._segments()
        self._number = (numbers[-1] + 1) if numbers else 1  # never append to a segment a crash left
        self._fd: int | None = None
        self._size = 0

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit())

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{_SUFFIX}"

    def recover(self) -> Iterator[tuple[int, bytes]]:
        """Every intact record left on disk, oldest first, as ``(segment, payload)``."""
        for number in self._segments():
            if number >= self._number:
                continue
            path = self._path(number)
            data = path.read_bytes()
            offset = 0
            while offset < len(data):
                if offset + _HEADER.size > len(data):
                    break
                length, crc = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
                if len(payload) != length or zlib.crc32(payload) != crc:
                    break
                yield number, payload
                offset += _HEADER.size + length
            if offset < len(data):
                logger.warning(
                    "journal %s: %d bytes after its last intact record ignored (a write cut off by a crash,"
                    " never acknowledged)",
                    path,
                    len(data) - offset,
                )

    def append(self, payload: bytes) -> int:
        """Write one record durably; return its segment number."""
        with self._lock:
            if self._fd is None or self._size >= self._segment_bytes:
                self._rotate()
            assert self._fd is not None
            record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
            written = os.write(self._fd, record)
            while written < len(record):  # os.write may write part of a large buffer
                written += os.write(self._fd, record[written:])
            os.fdatasync(self._fd)
            self._size += len(record)
            return self._number

    def _rotate(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._number += 1
        self._fd = os.open(self._path(self._number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0
        _fsync_dir(self.directory)  # the new file's name is durable before a record in it is acknowledged

    def release(self, committed_segment: int) -> None:
        """Everything up to a record in ``committed_segment`` is committed: delete older segments."""
        for number in self._segments():
            if number >= committed_segment:
                break
            self._path(number).unlink(missing_ok=True)

    def release_recovered(self) -> None:
        """After recovery committed every old record: delete the segments it read."""
        self.release(self._number)

    def release_all(self) -> None:
        """Everything appended is committed (a clean stop): delete every segment."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self.release(self._number + 1)
            self._unlock()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._unlock()

    def _unlock(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)  # closing the descriptor releases the flock
            self._dir_fd = None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
