-- One row per writing process: its counters since it started, written every few seconds and at
-- shutdown, so `otel-llm-cost health` shows what never reached llm_calls (queue drops, failed
-- writes) even after the process is gone. Counts are cumulative, so the latest row is the truth.
CREATE TABLE llm_ingest_health (
    process_key                 VARCHAR PRIMARY KEY,   -- host:pid:start time (ns)
    host                        VARCHAR,
    pid                         INTEGER,
    started_at                  TIMESTAMPTZ NOT NULL,
    updated_at                  TIMESTAMPTZ NOT NULL,
    processed                   BIGINT NOT NULL,       -- LLM spans the worker took from its queue
    stored                      BIGINT NOT NULL,       -- new llm_calls rows
    already_stored              BIGINT NOT NULL,       -- replays of spans already stored
    dropped_queue_full          BIGINT NOT NULL,       -- spans dropped because the queue was full
    store_failed                BIGINT NOT NULL,       -- calls lost because the database could not be written
    malformed                   BIGINT NOT NULL,       -- spans that could not be read
    forward_failed              BIGINT NOT NULL,       -- spans the forward exporter rejected
    forward_dropped_queue_full  BIGINT NOT NULL        -- spans dropped because the forward queue was full
);
