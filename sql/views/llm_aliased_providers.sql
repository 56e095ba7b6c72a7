-- Provider names as spans spell them (gen_ai.provider.name / gen_ai.system, old and new) that differ
-- from the price catalog's provider ids, and llm_provider_id(name), which normalises any name the way
-- pricing does (src/otel_llm_cost/_providers.py; tests/test_views.py checks they agree). The views
-- group unpriced calls, which have no priced_provider, with it, so 'gcp.gemini' and 'google' are one
-- provider. Views are bound when created and files apply in name order: this one must sort first.
CREATE OR REPLACE MACRO llm_provider_aliases() AS MAP {
    'aws.bedrock': 'aws',
    'bedrock': 'aws',
    'amazon-bedrock': 'aws',
    'azure.ai.inference': 'azure',
    'azure.ai.openai': 'azure',
    'az.ai.inference': 'azure',
    'az.ai.openai': 'azure',
    'gcp.gemini': 'google',
    'gcp.vertex_ai': 'google',
    'gcp.gen_ai': 'google',
    'gemini': 'google',
    'vertex_ai': 'google',
    'vertexai': 'google',
    'google.generative-ai': 'google',
    'google.vertex': 'google',
    'mistral_ai': 'mistral',
    'mistralai': 'mistral',
    'x_ai': 'x-ai',
    'xai': 'x-ai',
    'moonshot_ai': 'moonshotai'
};

-- An alias, else the part before a dot (the Vercel AI SDK's 'openai.chat'), itself looked up as
-- an alias, else the lower-cased name. NULL or '' -> NULL.
CREATE OR REPLACE MACRO llm_provider_id(name) AS
    CASE WHEN name IS NULL OR name = '' THEN NULL ELSE coalesce(
        llm_provider_aliases()[lower(trim(name))],
        llm_provider_aliases()[split_part(lower(trim(name)), '.', 1)],
        split_part(lower(trim(name)), '.', 1)
    ) END;

CREATE OR REPLACE VIEW llm_aliased_providers AS
SELECT unnest(map_keys(llm_provider_aliases())) AS span_provider, unnest(map_values(llm_provider_aliases())) AS provider_id;
