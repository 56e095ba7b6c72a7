"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on grpcio's
own server.

The method is registered with no request deserializer, so it receives the raw bytes: a malformed
message is then answered INVALID_ARGUMENT and counted here, like a malformed HTTP body, instead of
failing inside grpcio. Over capacity is UNAVAILABLE with a ``google.rpc.RetryInfo`` delay, which
the OTLP exporters honour (the gRPC analogue of HTTP's Retry-After).
"""

from __future__ import annotations

import hmac
import logging
from concurrent import futures
from typing import TYPE_CHECKING, NoReturn

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_llm_cost.serve._decode import MalformedRequest, parse_protobuf, span_count, to_readable_spans

if TYPE_CHECKING:
    from otel_llm_cost.serve._server import Server

logger = logging.getLogger(__name__)

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_EMPTY_RESPONSE: bytes = ExportTraceServiceResponse().SerializeToString()


def start_grpc(receiver: Server, address: str) -> tuple[grpc.Server, int]:
    """Start the gRPC server on ``address`` (``host:port``); return it and the port it bound."""
    config = receiver.config

    def export(body: bytes, context: grpc.ServicerContext) -> bytes:
        if config.auth_token and not _authorized(context, config.auth_token):
            receiver.counters.reject("unauthorized")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            request = parse_protobuf(body)
            spans = to_readable_spans(request, every_span=receiver.forwarding)
        except MalformedRequest as exc:
            receiver.counters.reject("malformed")
            logger.warning("rejected a malformed OTLP/gRPC request from %s: %s", context.peer(), exc)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        status, message = receiver.accept(spans, span_count(request), lambda: body)
        if status != 200:
            _abort_retryable(context, message, config.retry_after_s)
        return _EMPTY_RESPONSE

    handler = grpc.method_handlers_generic_handler(
        _SERVICE,
        # No request_deserializer: the bytes as they came; the response is serialized already.
        {"Export": grpc.unary_unary_rpc_method_handler(export)},
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.grpc_workers, thread_name_prefix="otel-llm-cost-serve-grpc"),
        handlers=(handler,),
        # grpcio answers RESOURCE_EXHAUSTED itself for a bigger message.
        options=[("grpc.max_receive_message_length", config.max_request_bytes)],
    )
    if config.tls_cert and config.tls_key:
        with open(config.tls_key, "rb") as key, open(config.tls_cert, "rb") as cert:
            credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    server.start()
    return server, port


def _authorized(context: grpc.ServicerContext, token: str) -> bool:
    expected = f"Bearer {token}".encode()
    for key, value in context.invocation_metadata():
        if key == "authorization":
            given = value.encode() if isinstance(value, str) else value
            return hmac.compare_digest(given, expected)
    return False


def _abort_retryable(context: grpc.ServicerContext, message: str, retry_after_s: int) -> NoReturn:
    info = RetryInfo(retry_delay=Duration(seconds=retry_after_s)).SerializeToString()
    context.set_trailing_metadata((("google.rpc.retryinfo-bin", info),))
    context.abort(grpc.StatusCode.UNAVAILABLE, message)
    raise AssertionError("grpc's abort raises")  # pragma: no cover
