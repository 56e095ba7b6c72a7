ALTER TABLE llm_calls DROP COLUMN test_id;
