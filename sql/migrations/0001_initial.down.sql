DROP TABLE model_prices;
DROP TABLE llm_calls;
