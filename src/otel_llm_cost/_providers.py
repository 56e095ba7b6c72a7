"""Provider names as spans spell them -> genai-prices provider ids."""

from __future__ import annotations

from typing import Final

# OTel gen_ai.provider.name / gen_ai.system values, old and new, that differ from the catalog's
# ids. Values the catalog already knows by id (openai, anthropic, deepseek, groq, ...) need no entry.
PROVIDER_ALIASES: Final[dict[str, str]] = {
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "amazon-bedrock": "aws",
    "azure.ai.inference": "azure",
    "azure.ai.openai": "azure",
    "az.ai.inference": "azure",
    "az.ai.openai": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "google.generative-ai": "google",
    "google.vertex": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "moonshot_ai": "moonshotai",
}


def catalog_provider_id(provider: str | None) -> str | None:
    """The genai-prices id for a provider name found on a span, or None when it names none."""
    if not provider:
        return None
    name = provider.strip().lower()
    if name in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[name]
    # The Vercel AI SDK puts its provider *and API* in gen_ai.system: "openai.chat",
    # "anthropic.messages", "openai.responses". The part before the dot is the provider.
    head, dot, _ = name.partition(".")
    return PROVIDER_ALIASES.get(head, head) if dot else name
