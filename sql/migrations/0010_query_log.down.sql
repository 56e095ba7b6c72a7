DROP TABLE retention_runs;
DROP TABLE query_log;
