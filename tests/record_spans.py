"""Record the spans that real instrumentation libraries emit, as JSON fixtures.

Drives the real client SDKs (``openai``, ``anthropic``) against the fake provider in
``fake_provider.py`` with one instrumentor enabled at a time, collects the finished spans with an
``InMemorySpanExporter``, and writes one file per case to ``tests/fixtures/spans/<library>__<case>.json``.

Each library runs in its own subprocess, so that the instrumentors' monkey patches never meet.

    .venv/bin/python -m pip install -r requirements/instrumentation.txt
    .venv/bin/python tests/record_spans.py                         # every library
    .venv/bin/python tests/record_spans.py traceloop-openai        # one library
    .venv/bin/python tests/record_spans.py --list

Two groups are recorded in other environments, since their packages are not test dependencies:

* ``openai-v2-legacy`` (openai-v2's pre-1.37 ``gen_ai.system`` dialect) needs opentelemetry-util-genai 0.x:
  ``pip install --no-deps --target /tmp/ug04 opentelemetry-util-genai==0.4b0`` then
  ``PYTHONPATH=/tmp/ug04 .venv/bin/python tests/record_spans.py openai-v2-legacy``.
* ``pydantic-ai``, ``logfire``, ``langfuse``: in a venv with ``opentelemetry-sdk==1.45.2 openai==3.54.0
  anthropic==2.12.0 "pydantic-ai-slim[openai,anthropic]==2.68.0" logfire==5.2.0 langfuse==5.0.4``, run
  ``VENV/bin/python tests/record_spans.py --python VENV/bin/python pydantic-ai logfire langfuse``.

A fixture holds everything needed to rebuild an ``opentelemetry.sdk.trace.ReadableSpan`` (see
``load_spans`` in ``test_instrumentations.py``): name, kind, scope, attributes with their JSON types
(ints stay ints, floats stay floats, sequences become lists), resource, status, times, ids (hex)
and events; plus ``library_versions``, the versions of the packages that produced it.
Files marked ``"reconstructed": true`` are written by hand (see ``RECONSTRUCTED`` notes in them)
and are never overwritten by this script.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures" / "spans"
sys.path.insert(0, str(TESTS))

from fake_provider import ERROR_MODEL, FakeProvider, serve  # noqa: E402

SERVICE_NAME = "record-spans"
CHAT_MESSAGES = [{"role": "user", "content": "Say hello."}]
# Packages whose versions go into every fixture of a library (those installed, at least).
COMMON_PACKAGES = ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-instrumentation")
LIBRARY_PACKAGES: dict[str, tuple[str, ...]] = {
    "openai-v2": ("openai", "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"),
    "openai-v2-legacy": ("openai", "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"),
    "openinference-openai": (
        "openai",
        "openinference-instrumentation-openai",
        "openinference-instrumentation",
        "openinference-semantic-conventions",
    ),
    "traceloop-openai": ("openai", "opentelemetry-instrumentation-openai", "opentelemetry-semantic-conventions-ai"),
    "traceloop-anthropic": (
        "anthropic",
        "opentelemetry-instrumentation-anthropic",
        "opentelemetry-semantic-conventions-ai",
    ),
    "anthropic-native": ("anthropic",),
    "anthropic-native+traceloop": (
        "anthropic",
        "opentelemetry-instrumentation-anthropic",
        "opentelemetry-semantic-conventions-ai",
    ),
    "pydantic-ai": ("pydantic-ai-slim", "openai", "anthropic", "genai-prices"),
    "logfire": ("logfire", "openai", "anthropic", "genai-prices"),
    "langfuse": ("langfuse", "openai"),
}
# Recorded in a side environment (see the module docstring): their packages are not test dependencies.
SIDE_LIBRARIES = ("pydantic-ai", "logfire", "langfuse")

Case = Callable[[Any], None]  # takes a client, makes the calls of one case


# --- Span <-> JSON ---------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def span_to_dict(span: Any) -> dict[str, Any]:
    """One finished ``ReadableSpan`` as a JSON-ready dict (the inverse of ``load_spans``)."""
    context = span.context
    parent = span.parent
    scope = span.instrumentation_scope
    return {
        "name": span.name,
        "kind": span.kind.name,
        "instrumentation_scope": {
            "name": scope.name if scope else None,
            "version": scope.version if scope else None,
            "schema_url": (scope.schema_url or None) if scope else None,
        },
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": _jsonable(dict(span.attributes or {})),
        "events": [
            {"name": e.name, "time_unix_nano": e.timestamp, "attributes": _jsonable(dict(e.attributes or {}))}
            for e in span.events
        ],
        "resource": _jsonable(dict(span.resource.attributes)) if span.resource else {},
    }


def library_versions(library: str) -> dict[str, str]:
    versions = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in (*LIBRARY_PACKAGES.get(library, ()), *COMMON_PACKAGES):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def write_fixture(library: str, case: str, spans: Sequence[Any], note: str) -> Path:
    path = FIXTURES / f"{library}__{case}.json"
    if path.exists() and json.loads(path.read_text()).get("reconstructed"):
        raise SystemExit(f"{path} is a reconstructed fixture; refusing to overwrite it")
    document = {
        "library": library,
        "case": case,
        "recorded": True,
        "note": note,
        "library_versions": library_versions(library),
        "spans": [span_to_dict(s) for s in sorted(spans, key=lambda s: (s.start_time or 0, s.name))],
    }
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


# --- Calls, shared by every library ----------------------------------------------------------------
def openai_chat(client: Any, model: str = "gpt-4o-mini") -> None:
    client.chat.completions.create(model=model, messages=CHAT_MESSAGES, max_tokens=500)


def openai_chat_stream(client: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=CHAT_MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    for _ in stream:
        pass


def openai_chat_reasoning(client: Any) -> None:
    client.chat.completions.create(model="o3-mini", messages=CHAT_MESSAGES, reasoning_effort="low")


def openai_chat_429(client: Any) -> None:
    import openai

    try:
        openai_chat(client, ERROR_MODEL)
    except openai.RateLimitError:
        return
    raise AssertionError("the fake provider should have answered 429")


def openai_responses(client: Any) -> None:
    client.responses.create(model="gpt-4o-mini", input="Say hello.")


def openai_responses_stream(client: Any) -> None:
    for _ in client.responses.create(model="gpt-4o-mini", input="Say hello.", stream=True):
        pass


def openai_embeddings(client: Any) -> None:
    client.embeddings.create(model="text-embedding-3-small", input="Say hello.")


def anthropic_messages(client: Any) -> None:
    client.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=CHAT_MESSAGES)


def anthropic_messages_stream(client: Any) -> None:
    stream = client.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=CHAT_MESSAGES, stream=True)
    for _ in stream:
        pass


def anthropic_messages_stream_helper(client: Any) -> None:
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=1024, messages=CHAT_MESSAGES) as stream:
        stream.get_final_message()


def anthropic_messages_429(client: Any) -> None:
    import anthropic

    try:
        client.messages.create(model=ERROR_MODEL, max_tokens=1024, messages=CHAT_MESSAGES)
    except anthropic.RateLimitError:
        return
    raise AssertionError("the fake provider should have answered 429")


OPENAI_CASES: dict[str, Case] = {
    "chat": openai_chat,
    "chat_stream": openai_chat_stream,
    "chat_reasoning": openai_chat_reasoning,
    "responses": openai_responses,
    "responses_stream": openai_responses_stream,
    "embeddings": openai_embeddings,
    "chat_429": openai_chat_429,
}
ANTHROPIC_CASES: dict[str, Case] = {
    "messages": anthropic_messages,
    "messages_stream": anthropic_messages_stream,
    "messages_stream_helper": anthropic_messages_stream_helper,
    "messages_429": anthropic_messages_429,
}


# --- Instrumentors: each is a context manager that yields a client factory -------------------------
@contextmanager
def _instrumented(instrumentor: Any, tracer_provider: Any) -> Iterator[None]:
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def openai_client(fake: FakeProvider) -> Any:
    import openai

    return openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)


def anthropic_client(fake: FakeProvider, tracer_provider: Any = None) -> Any:
    """An Anthropic client; its own (native) tracing is on only when a tracer provider is given."""
    import anthropic

    option: Any = {"tracer_provider": tracer_provider} if tracer_provider is not None else False
    return anthropic.Anthropic(
        base_url=fake.anthropic_base_url, api_key="sk-ant-fake", max_retries=0, open_telemetry=option
    )


def instrumentor_for(library: str) -> Any:
    """The instrumentor object for a library name (None for the SDK's native tracing alone)."""
    if library in ("openai-v2", "openai-v2-legacy"):
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as OtelOpenAI

        return OtelOpenAI()
    if library == "openinference-openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceOpenAI

        return OpenInferenceOpenAI()
    if library == "traceloop-openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopOpenAI

        return TraceloopOpenAI()
    if library in ("traceloop-anthropic", "anthropic-native+traceloop"):
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        return AnthropicInstrumentor()
    if library == "anthropic-native":
        return None
    raise KeyError(library)


# library -> (cases, client factory(fake, tracer_provider), note)
LIBRARIES: dict[str, tuple[dict[str, Case], Callable[[FakeProvider, Any], Any], str]] = {
    "openai-v2": (
        OPENAI_CASES,
        lambda fake, tp: openai_client(fake),
        "opentelemetry-instrumentation-openai-v2 (with opentelemetry-util-genai) around the openai SDK",
    ),
    "openai-v2-legacy": (
        {k: OPENAI_CASES[k] for k in ("chat", "chat_stream", "embeddings")},
        lambda fake, tp: openai_client(fake),
        "opentelemetry-instrumentation-openai-v2 in its default (pre-1.37 semconv) mode, which it has only with "
        "opentelemetry-util-genai<1: util-genai 1.x always takes the 'latest experimental' path",
    ),
    "openinference-openai": (
        OPENAI_CASES,
        lambda fake, tp: openai_client(fake),
        "openinference-instrumentation-openai around the openai SDK",
    ),
    "traceloop-openai": (
        OPENAI_CASES,
        lambda fake, tp: openai_client(fake),
        "OpenLLMetry (Traceloop) opentelemetry-instrumentation-openai around the openai SDK",
    ),
    "traceloop-anthropic": (
        ANTHROPIC_CASES,
        lambda fake, tp: anthropic_client(fake),
        "OpenLLMetry (Traceloop) opentelemetry-instrumentation-anthropic; the SDK's own tracing is off "
        "(open_telemetry=False)",
    ),
    "anthropic-native": (
        ANTHROPIC_CASES,
        lambda fake, tp: anthropic_client(fake, tp),
        "the anthropic SDK's built-in tracing (open_telemetry={'tracer_provider': ...}), no instrumentor",
    ),
    "anthropic-native+traceloop": (
        {"messages": anthropic_messages, "messages_stream": anthropic_messages_stream},
        lambda fake, tp: anthropic_client(fake, tp),
        "the anthropic SDK's built-in tracing AND OpenLLMetry's anthropic instrumentor on the same client: "
        "two spans for each provider call (the duplicate case)",
    ),
}


def _pydantic_ai_cases(fake: FakeProvider, tracer_provider: Any) -> dict[str, Callable[[], None]]:
    import anthropic
    import openai
    from pydantic_ai import Agent
    from pydantic_ai.capabilities.instrumentation import Instrumentation
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.anthropic import AnthropicProvider
    from pydantic_ai.providers.openai import OpenAIProvider

    settings = InstrumentationSettings(tracer_provider=tracer_provider)

    def gpt() -> Any:  # a new async client per run: each run has its own event loop
        client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        return OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))

    def claude() -> Any:
        client = anthropic.AsyncAnthropic(
            base_url=fake.anthropic_base_url, api_key="sk-ant-fake", max_retries=0, open_telemetry=False
        )
        return AnthropicModel("claude-sonnet-4-5", provider=AnthropicProvider(anthropic_client=client))

    def run(make_model: Callable[[], Any], stream: bool = False) -> Callable[[], None]:
        def call() -> None:
            agent = Agent(make_model(), name="support_agent", capabilities=[Instrumentation(settings=settings)])
            if not stream:
                agent.run_sync("Say hello.")
                return
            import asyncio

            async def consume() -> None:
                async with agent.run_stream("Say hello.") as result:
                    await result.get_output()

            asyncio.run(consume())

        return call

    return {"agent_openai": run(gpt), "agent_openai_stream": run(gpt, stream=True), "agent_anthropic": run(claude)}


def _logfire_cases(fake: FakeProvider, tracer_provider: Any) -> dict[str, Callable[[], None]]:
    import logfire

    oai = openai_client(fake)
    claude = anthropic_client(fake)
    logfire.instrument_openai(oai)
    logfire.instrument_anthropic(claude)
    return {
        "openai_chat": lambda: openai_chat(oai),
        "openai_chat_stream": lambda: openai_chat_stream(oai),
        "openai_responses": lambda: openai_responses(oai),
        "anthropic_messages": lambda: anthropic_messages(claude),
        "anthropic_messages_stream": lambda: anthropic_messages_stream(claude),
    }


def _langfuse_cases(fake: FakeProvider, tracer_provider: Any) -> dict[str, Callable[[], None]]:
    from langfuse import Langfuse

    # Langfuse adds its own exporter to the provider; pointed at the fake, its uploads get a 404.
    client = Langfuse(
        public_key="pk-lf-fake", secret_key="sk-lf-fake", base_url=fake.url, tracer_provider=tracer_provider
    )
    from langfuse.openai import openai as langfuse_openai

    wrapped = langfuse_openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)

    def manual_generation() -> None:
        # The low-level SDK, as an app that calls a provider itself and reports usage and cost.
        with client.start_as_current_observation(
            name="summarise", as_type="generation", model="claude-sonnet-4-5"
        ) as generation:
            generation.update(
                usage_details={
                    "input": 1000,
                    "cache_read_input_tokens": 2000,
                    "cache_creation_input_tokens": 500,
                    "output": 400,
                },
                cost_details={"total": 0.011475},
            )

    return {
        "openai_chat": lambda: openai_chat(wrapped),
        "openai_chat_stream": lambda: openai_chat_stream(wrapped),
        "manual_generation": manual_generation,
    }


SIDE_CASES: dict[str, Callable[[FakeProvider, Any], dict[str, Callable[[], None]]]] = {
    "pydantic-ai": _pydantic_ai_cases,
    "logfire": _logfire_cases,
    "langfuse": _langfuse_cases,
}


def record_side_library(library: str, only: Sequence[str] = ()) -> list[Path]:
    """Libraries that build their own tracer provider or clients: pydantic-ai, Logfire, Langfuse."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    if library == "logfire":
        import logfire

        logfire.configure(
            send_to_logfire=False,
            console=False,
            service_name=SERVICE_NAME,
            additional_span_processors=[SimpleSpanProcessor(exporter)],
        )
        provider: Any = None
    else:
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    note = {
        "pydantic-ai": "pydantic-ai's own instrumentation (InstrumentationSettings(tracer_provider=...)), agent run",
        "logfire": "logfire.instrument_openai / instrument_anthropic, logfire.configure(send_to_logfire=False)",
        "langfuse": "Langfuse Python SDK (OTel based): the langfuse.openai drop-in and a manual generation",
    }[library]
    written: list[Path] = []
    with serve() as fake:
        cases = SIDE_CASES[library](fake, provider)
        for case, call in cases.items():
            if only and case not in only:
                continue
            exporter.clear()
            call()
            if provider is not None:
                provider.force_flush()
            else:
                import logfire

                logfire.force_flush()
            spans = [s for s in exporter.get_finished_spans() if not _is_pending(s)]
            if not spans:
                print(f"  {library}__{case}: no spans", file=sys.stderr)
                continue
            written.append(write_fixture(library, case, spans, note))
            print(f"  {library}__{case}: {len(spans)} span(s)")
    if provider is not None:
        provider.shutdown()
    return written


def _is_pending(span: Any) -> bool:
    # Logfire also emits a zero-length "pending span" when a span starts; it is not a finished call.
    return (span.attributes or {}).get("logfire.span_type") == "pending_span"


def record_library(library: str, only: Sequence[str] = ()) -> list[Path]:
    """Record every case of one library in this process."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if library in SIDE_LIBRARIES:
        return record_side_library(library, only)
    cases, make_client, note = LIBRARIES[library]
    if library == "openai-v2-legacy" and not metadata.version("opentelemetry-util-genai").startswith("0."):
        print(
            "  skipped: needs opentelemetry-util-genai 0.x, e.g. `pip install --no-deps --target DIR "
            "opentelemetry-util-genai==0.4b0` and PYTHONPATH=DIR",
            file=sys.stderr,
        )
        return []
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = instrumentor_for(library)
    written: list[Path] = []
    with serve() as fake:
        manager = _instrumented(instrumentor, provider) if instrumentor is not None else _nothing()
        with manager:
            for case, call in cases.items():
                if only and case not in only:
                    continue
                exporter.clear()
                call(make_client(fake, provider))
                provider.force_flush()
                spans = exporter.get_finished_spans()
                if not spans:
                    print(f"  {library}__{case}: no spans (not instrumented?)", file=sys.stderr)
                    continue
                written.append(write_fixture(library, case, spans, note))
                print(f"  {library}__{case}: {len(spans)} span(s)")
    provider.shutdown()
    return written


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def run_live(library: str, cases: Sequence[str], fake_url: str, out_dir: Path) -> None:
    """For test_instrumentations.py: run cases of one library through a real LLMCostSpanProcessor.

    Each case gets a fresh processor writing ``out_dir/<case>.duckdb``. The library is instrumented
    once, on one TracerProvider whose spans go to the current case's processor: OpenLLMetry's openai
    instrumentor cannot be uninstrumented (with openai 3.x it leaves its wrappers in place, and they
    keep sending spans to the first tracer provider), so a second instrument() in one process would
    send the spans elsewhere.
    """
    from urllib.parse import urlsplit

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from otel_llm_cost import LLMCostSpanProcessor

    class Switch(SpanProcessor):
        target: Any = None

        def on_end(self, span: Any) -> None:
            if self.target is not None:
                self.target.on_end(span)

    url = urlsplit(fake_url)
    fake = FakeProvider(host=url.hostname or "127.0.0.1", port=url.port or 80)
    all_cases, make_client, _ = LIBRARIES[library]
    switch = Switch()
    provider = TracerProvider(resource=Resource.create({"service.name": "test-svc"}))
    provider.add_span_processor(switch)
    instrumentor = instrumentor_for(library)
    with _instrumented(instrumentor, provider) if instrumentor is not None else _nothing():
        for case in cases:
            processor = LLMCostSpanProcessor(db_path=str(out_dir / f"{case}.duckdb"), flush_at_exit=False)
            switch.target = processor
            client = make_client(fake, provider)
            try:
                all_cases[case](client)
            finally:
                client.close()
            switch.target = None
            if not processor.force_flush(10_000):
                raise SystemExit(f"{library}__{case}: force_flush timed out")
            processor.shutdown()
    provider.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("libraries", nargs="*", help=f"default: all of {', '.join(LIBRARIES)}")
    parser.add_argument("--case", action="append", default=[], help="record only these cases")
    parser.add_argument("--in-process", action="store_true", help="record in this process (one library only)")
    parser.add_argument("--list", action="store_true", help="list libraries and cases")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the subprocesses")
    parser.add_argument("--live-db", type=Path, help="(tests) price the cases into DIR/<case>.duckdb instead")
    parser.add_argument("--fake-url", help="(tests, with --live-db) the running fake provider's URL")
    args = parser.parse_args(argv)
    if args.live_db is not None:
        if len(args.libraries) != 1 or not args.fake_url:
            parser.error("--live-db needs exactly one library and --fake-url")
        run_live(args.libraries[0], args.case, args.fake_url, args.live_db)
        return 0
    if args.list:
        for name, (cases, _, _) in LIBRARIES.items():
            print(f"{name}: {', '.join(cases)}")
        print(f"side environment: {', '.join(SIDE_LIBRARIES)}")
        return 0
    libraries = args.libraries or [name for name in LIBRARIES if name != "openai-v2-legacy"]
    unknown = [name for name in libraries if name not in LIBRARIES and name not in SIDE_LIBRARIES]
    if unknown:
        parser.error(f"unknown libraries {unknown}; known: {[*LIBRARIES, *SIDE_LIBRARIES]}")
    if args.in_process:
        if len(libraries) != 1:
            parser.error("--in-process records exactly one library")
        record_library(libraries[0], args.case)
        return 0
    failed = []
    for library in libraries:
        print(f"{library}:")
        command = [args.python, __file__, "--in-process", library, *(f"--case={c}" for c in args.case)]
        # Each library's defaults, as a user gets them (content capture included).
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(library)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
