"""Keep a DuckLake small and fast: DuckLake's own compaction and cleanup functions, in order.

Every committed batch adds a snapshot and, above 10 rows, a Parquet file (smaller batches are
inlined into the PostgreSQL catalog); each health update adds a small delete. Over weeks that is
many small files and a long snapshot history. :func:`maintain` runs, as DuckLake recommends:

1. ``ducklake_flush_inlined_data``: rows inlined in the catalog go to Parquet files;
2. ``ducklake_merge_adjacent_files``: small files of a table are merged into larger ones;
3. ``ducklake_rewrite_data_files``: files with many deleted rows are rewritten without them;
4. ``ducklake_expire_snapshots``: snapshots older than ``keep`` are forgotten (no time travel to them);
5. ``ducklake_cleanup_old_files``: files no snapshot needs any more are deleted;
6. ``ducklake_delete_orphaned_files``: files no snapshot ever recorded (a writer killed mid-commit).

With ``dry_run`` the first three are skipped (DuckLake cannot preview them) and the last three
list what they would remove. Writers may keep committing meanwhile: a step that loses a commit
conflict to them runs again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from otel_llm_cost._lake_retry import retry_conflicts
from otel_llm_cost.ducklake import LAKE, DuckLakeStore

DEFAULT_KEEP = dt.timedelta(days=7)


@dataclass
class MaintenanceStep:
    name: str  #: the DuckLake function
    ran: bool  #: False: skipped (a dry run of a step DuckLake cannot preview)
    count: int  #: how many ``unit`` it handled (or would remove)
    unit: str  #: rows flushed, files merged, snapshots expired, files deleted...
    items: list[str] = field(default_factory=list)  #: snapshot ids or file paths removed (or that would be)


# function, can it dry-run, unit, column summed (None: count rows), column listed in items
_STEPS: tuple[tuple[str, bool, str, str | None, str | None], ...] = (
    ("ducklake_flush_inlined_data", False, "rows flushed", "rows_flushed", None),
    ("ducklake_merge_adjacent_files", False, "files merged", "files_processed", None),
    ("ducklake_rewrite_data_files", False, "files rewritten", "files_processed", None),
    ("ducklake_expire_snapshots", True, "snapshots expired", None, "snapshot_id"),
    ("ducklake_cleanup_old_files", True, "files deleted", None, "path"),
    ("ducklake_delete_orphaned_files", True, "orphaned files deleted", None, "path"),
)


def maintain(
    store: DuckLakeStore, *, keep: dt.timedelta = DEFAULT_KEEP, dry_run: bool = False
) -> list[MaintenanceStep]:
    """Run DuckLake's maintenance on ``store``'s lake; return what each step did.

    Args:
        store: an open (writable) :class:`DuckLakeStore`.
        keep: snapshots and files younger than this are kept (and time travel within it works).
        dry_run: change nothing; list what expiring and cleanup would remove.
    """
    con = store.con
    steps: list[MaintenanceStep] = []
    for function, previewable, unit, summed, listed in _STEPS:
        if dry_run and not previewable:
            steps.append(MaintenanceStep(function, ran=False, count=0, unit=unit))
            continue
        if previewable:
            sql = f"CALL {function}('{LAKE}', older_than => ?::TIMESTAMPTZ, dry_run => ?)"
            # Taken now, not at the start: what the merge just replaced counts its age from the merge.
            params: list[object] = [dt.datetime.now(dt.timezone.utc) - keep, dry_run]
        else:
            sql, params = f"CALL {function}('{LAKE}')", []

        def run(sql: str = sql, params: list[object] = params) -> list[dict[str, Any]]:
            cursor = con.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        rows = retry_conflicts(run, what=function, deadline_s=store.commit_timeout_s)
        count = sum(int(r[summed] or 0) for r in rows) if summed else len(rows)
        items = [str(r[listed]) for r in rows] if listed else []
        steps.append(MaintenanceStep(function, ran=True, count=count, unit=unit, items=items))
    return steps
