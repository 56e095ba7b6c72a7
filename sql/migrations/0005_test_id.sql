-- The test that made the call: the pytest node id (e.g. tests/test_chat.py::test_reply[gpt-4o])
-- that the pytest plugin stamps on every span started during a test, as otel_llm_cost.test_id.
-- NULL outside test runs. View llm_cost_by_test sums the calls per test.
ALTER TABLE llm_calls ADD COLUMN test_id VARCHAR;
