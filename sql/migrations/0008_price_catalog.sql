-- The whole price catalog, effective-dated, with every price dimension (issue #4). model_prices now
-- holds every row of each loaded catalog (genai-prices, plus an overrides file's rows), not only
-- the rates that priced a call; rows are never updated: a new catalog version adds its own rows.
-- '' = the standard price; else the request context that selects this price, e.g.
-- 'service_tier=flex', 'service_tier=priority', 'processing=batch' (genai-prices price variants).
ALTER TABLE model_prices ADD COLUMN variant VARCHAR DEFAULT '';
-- Off-peak prices apply in a daily UTC window, e.g. '16:30-00:30'; NULL = all day.
ALTER TABLE model_prices ADD COLUMN time_of_day VARCHAR;
-- More base rates in USD per million tokens (per thousand requests for requests_kcount). NULL =
-- the catalog has no such rate (the tokens are priced at the less specific rate: audio at input).
ALTER TABLE model_prices ADD COLUMN cache_write_1h_mtok DECIMAL(38, 18);
ALTER TABLE model_prices ADD COLUMN input_audio_mtok DECIMAL(38, 18);
ALTER TABLE model_prices ADD COLUMN cache_audio_read_mtok DECIMAL(38, 18);
ALTER TABLE model_prices ADD COLUMN output_audio_mtok DECIMAL(38, 18);
ALTER TABLE model_prices ADD COLUMN input_image_mtok DECIMAL(38, 18);
ALTER TABLE model_prices ADD COLUMN cache_image_read_mtok DECIMAL(38, 18);
ALTER TABLE model_prices ADD COLUMN output_image_mtok DECIMAL(38, 18);
ALTER TABLE model_prices ADD COLUMN requests_kcount DECIMAL(38, 18);  -- per-request fee, USD per 1000 requests
-- Long-context tiers, per price key: {"input_mtok": [{"start": 200000, "price": "6"}]}. A tier applies
-- to the whole request once its input tokens exceed start. NULL = no tiers.
ALTER TABLE model_prices ADD COLUMN tiers JSON;

-- One row per catalog version loaded into model_prices, so a process loads each version once.
CREATE TABLE model_price_catalogs (
    price_version   VARCHAR PRIMARY KEY,   -- genai-prices==0.2.3, or genai-prices==0.2.3+overrides-<sha256 12>
    catalog_source  VARCHAR NOT NULL,      -- 'bundled' (the installed genai-prices), or a fetched catalog's version
    overrides_file  VARCHAR,               -- path of the overrides file, if any
    price_rows      BIGINT NOT NULL,       -- model_prices rows of this version
    loaded_at       TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ NOT NULL   -- the latest start of a process pricing with this version
);

-- Modality details of each call (subsets of input_tokens / output_tokens; NULL = not reported).
ALTER TABLE llm_calls ADD COLUMN input_audio_tokens BIGINT;
ALTER TABLE llm_calls ADD COLUMN cache_audio_read_tokens BIGINT;
ALTER TABLE llm_calls ADD COLUMN output_audio_tokens BIGINT;
ALTER TABLE llm_calls ADD COLUMN input_image_tokens BIGINT;
ALTER TABLE llm_calls ADD COLUMN cache_image_read_tokens BIGINT;
ALTER TABLE llm_calls ADD COLUMN output_image_tokens BIGINT;
-- The service tier the span reports (openai.response.service_tier, anthropic.response.service_tier, ...):
-- it selects the price variant (model_prices.variant of price_id).
ALTER TABLE llm_calls ADD COLUMN service_tier VARCHAR;
