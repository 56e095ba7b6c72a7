-- Span attributes a user chose to keep beside the cost (LLMCostSpanProcessor(store_attributes=...)),
-- after their redaction hook, as one JSON object. NULL: nothing captured (the default).
ALTER TABLE llm_calls ADD COLUMN attributes JSON;
