-- How long the commands' queries took: one row per query that `otel-llm-cost export`, `health`,
-- `report` and the processor's export at exit ran, so `otel-llm-cost health` can list the slowest.
-- Append-only; `otel-llm-cost prune` deletes the rows older than its cutoff with the calls.
CREATE TABLE query_log (
    logged_at    TIMESTAMPTZ NOT NULL,   -- when the query started
    source       VARCHAR NOT NULL,       -- the command that ran it: export | health | report | export_on_exit | prune
    name         VARCHAR NOT NULL,       -- the view or table it read, or what the query is for
    sql_hash     VARCHAR NOT NULL,       -- first 16 hex digits of the SQL text's SHA-256: groups runs of one query
    sql_text     VARCHAR NOT NULL,       -- the statement (parameters not included), cut to 4,000 characters
    duration_ms  DOUBLE NOT NULL,        -- wall time, execution and fetch
    row_count    BIGINT,                 -- rows returned (or written by COPY); NULL when the query failed
    ok           BOOLEAN NOT NULL,
    error        VARCHAR                 -- the first line of the error when not ok
);

-- One row per retention run (`otel-llm-cost prune`, or the processor's retention_days): what was
-- archived and deleted. The processor reads the newest ran_at so that it prunes at most once a UTC
-- day, also across restarts.
CREATE TABLE retention_runs (
    ran_at               TIMESTAMPTZ NOT NULL,
    source               VARCHAR NOT NULL,   -- prune (the command) | processor
    cutoff               TIMESTAMPTZ NOT NULL, -- rows that started before this instant were removed
    calls_deleted        BIGINT NOT NULL,
    agent_runs_deleted   BIGINT NOT NULL,
    query_log_deleted    BIGINT NOT NULL,
    archive_dir          VARCHAR             -- where the Parquet archive went; NULL when not archived
);
