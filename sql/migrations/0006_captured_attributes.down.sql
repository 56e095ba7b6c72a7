ALTER TABLE llm_calls DROP COLUMN attributes;
