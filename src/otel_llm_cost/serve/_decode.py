"""OTLP trace requests (protobuf or JSON) -> the SDK ``ReadableSpan``s the cost pipeline takes.

The receiver hands :class:`~otel_llm_cost.exporter.CostExporter` the same objects an in-process
``TracerProvider`` would, so a span priced through ``serve`` is read by the same code, and stored
with the same values, as one priced in the application. Only spans that carry a GenAI attribute are
built unless everything is forwarded: the rest would be skipped by the exporter anyway, and building
them is most of the decoding time.

OTLP/JSON differs from protobuf's canonical JSON in one way that matters: trace and span ids are
hex strings, not base64 (OTLP spec, "JSON Protobuf Encoding"). They are rewritten before parsing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_llm_cost._dialects import MARKERS

_KINDS = {k.value + 1: k for k in SpanKind}  # OTLP counts from SPAN_KIND_UNSPECIFIED = 0
_STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_SCALARS = frozenset(("string_value", "int_value", "double_value", "bool_value", "bytes_value"))


class MalformedRequest(ValueError):
    """The request body is not a valid OTLP trace export request; the message says why."""


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/protobuf body."""
    try:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise MalformedRequest(f"not an OTLP protobuf ExportTraceServiceRequest: {exc}") from exc
    return request


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON body (hex ids, enums as numbers or names)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequest(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedRequest("not an OTLP JSON ExportTraceServiceRequest: the body is not an object")
    try:
        for resource_spans in _objects(document.get("resourceSpans", document.get("resource_spans"))):
            for scope_spans in _objects(resource_spans.get("scopeSpans", resource_spans.get("scope_spans"))):
                for span in _objects(scope_spans.get("spans")):
                    _hex_ids_to_base64(span)
                    for link in _objects(span.get("links")):
                        _hex_ids_to_base64(link)
        request: ExportTraceServiceRequest = json_format.ParseDict(
            document, ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
    except (json_format.ParseError, binascii.Error, ValueError, TypeError, AttributeError) as exc:
        raise MalformedRequest(f"not an OTLP JSON ExportTraceServiceRequest: {exc}") from exc
    return request


def _objects(value: object) -> Iterable[dict[str, Any]]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("expected a list of objects")  # parse_json adds what was expected
    return value


def _hex_ids_to_base64(obj: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def span_count(request: ExportTraceServiceRequest) -> int:
    """How many spans the request carries."""
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def to_readable_spans(request: ExportTraceServiceRequest, *, every_span: bool = False) -> list[ReadableSpan]:
    """The request's spans as SDK ``ReadableSpan``s: only the GenAI ones unless ``every_span``
    (the forwarding case, which also keeps events and links).

    Raises:
        MalformedRequest: a span's ids have the wrong length.
    """
    spans: list[ReadableSpan] = []
    for resource_spans in request.resource_spans:
        resource: Resource | None = None
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(
                scope_spans.scope.name, scope_spans.scope.version or None, scope_spans.schema_url or None
            )
            for span in scope_spans.spans:
                attributes = _attributes(span.attributes)
                if not every_span and MARKERS.isdisjoint(attributes):
                    continue
                if resource is None:  # built once per resource, and only if one of its spans is kept
                    resource = Resource(_attributes(resource_spans.resource.attributes), resource_spans.schema_url)
                spans.append(_readable(span, attributes, resource, scope, full=every_span))
    return spans


def _readable(
    span: ProtoSpan, attributes: dict[str, Any], resource: Resource, scope: InstrumentationScope, *, full: bool
) -> ReadableSpan:
    context = _context(span.trace_id, span.span_id, span.flags)
    parent = _context(span.trace_id, span.parent_span_id, span.flags) if span.parent_span_id else None
    status = span.status
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=attributes,
        events=[_event(e) for e in span.events] if full else (),
        links=[_link(link) for link in span.links] if full else (),
        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=Status(_STATUS.get(status.code, StatusCode.UNSET), status.message or None),
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        instrumentation_scope=scope,
    )


def _context(trace_id: bytes, span_id: bytes, flags: int) -> SpanContext:
    if len(trace_id) != 16 or len(span_id) != 8:
        raise MalformedRequest(
            f"a span has a {len(trace_id)}-byte trace id and a {len(span_id)}-byte span id (OTLP: 16 and 8)"
        )
    # The low byte of OTLP's span flags is the W3C trace flags; a span that reached us was sampled.
    trace_flags = TraceFlags(flags & 0xFF or TraceFlags.SAMPLED)
    return SpanContext(int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big"), False, trace_flags)


def _event(event: Any) -> Event:
    return Event(event.name, _attributes(event.attributes), event.time_unix_nano)


def _link(link: Any) -> Link:
    return Link(_context(link.trace_id, link.span_id, link.flags), _attributes(link.attributes))


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind in _SCALARS:  # string, int, double, bool, bytes: read as they are
        return getattr(value, kind)
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return None
