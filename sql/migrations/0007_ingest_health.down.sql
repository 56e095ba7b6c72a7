DROP TABLE llm_ingest_health;
