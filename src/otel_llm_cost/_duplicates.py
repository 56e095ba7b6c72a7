"""One provider call reported by several spans is counted once.

It happens whenever two instrumentations see the same request: an instrumentation library beside
the Anthropic SDK's own tracing, OpenLLMetry beside OpenInference, a proxy and its client. All rows
are kept (they are evidence), and all but the first get ``is_duplicate`` and point at the first.

Rules, from the issue and from real traces:

* the same ``gen_ai.response.id`` is one call;
* when at least one of the two has no response id, the same model and identical token counts,
  from a *different* instrumentation scope, with overlapping or adjacent time intervals, is one
  call;
* two different response ids are never the same call.

The detector remembers recent calls (by span time) in memory only: duplicates end within
milliseconds of each other, so a window of minutes is plenty and memory stays bounded.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from otel_llm_cost.conventions import CallRecord

_ADJACENT_NS = 1_000_000_000  # intervals closer than 1 s count as adjacent (clock skew, SDK overhead)
_PER_SCOPE = 8  # equal-usage calls remembered per (content, scope); a scan never goes past this
_NO_SCOPES: dict[str | None, deque[_Seen]] = {}


@dataclass(slots=True)
class _Seen:
    trace_id: str
    span_id: str
    scope: str | None
    response_id: str | None
    start_ns: int
    end_ns: int
    # Scopes that already matched this call: one scope's second equal-usage call is a second call.
    # None until the first match (most calls are never repeated; no set is built for them).
    claimed_by: set[str | None] | None = None


def _content_key(record: CallRecord, model: str | None) -> tuple[object, ...] | None:
    if not record.has_usage or not model:
        return None
    return (model.lower(), record.input_tokens, record.output_tokens, record.cache_read_tokens,
            record.cache_write_tokens)  # fmt: skip


class DuplicateDetector:
    """Marks records that repeat an already seen provider call.

    Args:
        window_seconds: how long (in span time) a call is remembered.
        max_entries: most calls remembered; the oldest are forgotten first.
    """

    def __init__(self, *, window_seconds: float = 600, max_entries: int = 200_000) -> None:
        self._window_ns = int(window_seconds * 1e9)
        self._max_entries = max_entries
        self._by_response_id: OrderedDict[str, _Seen] = OrderedDict()
        # Content key -> scope -> that scope's latest original calls with this usage. Bounded per
        # scope, so many look-alike calls (fixed-size prompts, embedding chunks) cost O(1) each.
        self._by_content: OrderedDict[tuple[object, ...], dict[str | None, deque[_Seen]]] = OrderedDict()
        self._newest_ns = 0
        self._calls = 0

    def original_of(self, record: CallRecord, model: str | None) -> tuple[str, str] | None:
        """Return ``(trace_id, span_id)`` of the call this record repeats, or None if it is new.

        ``model`` is the catalog model when the call was priced, so that a dated response model
        and its alias compare equal; else the reported model name.
        """
        self._newest_ns = max(self._newest_ns, record.end_time_ns)
        content = _content_key(record, model)
        original = self._match(record, content)
        if original is not None:
            if original.claimed_by is None:
                original.claimed_by = set()
            original.claimed_by.add(record.scope_name)
            if record.response_id:
                # A later report carrying this id joins the original too.
                self._remember_id(record.response_id, original)
            self._evict()
            return original.trace_id, original.span_id
        seen = _Seen(record.trace_id, record.span_id, record.scope_name, record.response_id,
                     record.start_time_ns, record.end_time_ns)  # fmt: skip
        if record.response_id:
            self._remember_id(record.response_id, seen)
        if content is not None:
            scopes = self._by_content.get(content)
            if scopes is None:
                scopes = self._by_content[content] = {}
            else:
                self._by_content.move_to_end(content)
            recent = scopes.get(record.scope_name)
            if recent is None:
                recent = scopes[record.scope_name] = deque(maxlen=_PER_SCOPE)
            recent.append(seen)
        self._evict()
        return None

    def _remember_id(self, response_id: str, seen: _Seen) -> None:
        by_id = self._by_response_id
        if response_id in by_id:
            by_id.move_to_end(response_id)
        by_id[response_id] = seen

    def _match(self, record: CallRecord, content: tuple[object, ...] | None) -> _Seen | None:
        if record.response_id:
            same_id = self._by_response_id.get(record.response_id)
            if same_id is not None and (same_id.trace_id, same_id.span_id) != (record.trace_id, record.span_id):
                return same_id
        if content is None:
            return None
        for scope, candidates in self._by_content.get(content, _NO_SCOPES).items():
            if scope == record.scope_name:
                continue  # one instrumentation does not report a call twice; equal usage is a coincidence
            for candidate in reversed(candidates):
                if candidate.claimed_by is not None and record.scope_name in candidate.claimed_by:
                    continue  # this scope already has its report of that call
                if candidate.response_id and record.response_id and candidate.response_id != record.response_id:
                    continue  # two different response ids are never one call
                if (record.start_time_ns <= candidate.end_ns + _ADJACENT_NS
                        and candidate.start_ns <= record.end_time_ns + _ADJACENT_NS):  # fmt: skip
                    return candidate
        return None

    def _evict(self) -> None:
        self._calls += 1
        if (
            self._calls % 256
            and len(self._by_content) <= self._max_entries
            and len(self._by_response_id) <= (self._max_entries)
        ):
            return  # the time horizon moves slowly: checking it every 256 calls is plenty
        horizon = self._newest_ns - self._window_ns
        by_id, by_content, limit = self._by_response_id, self._by_content, self._max_entries
        while by_id and (len(by_id) > limit or next(iter(by_id.values())).end_ns < horizon):
            by_id.popitem(last=False)
        while by_content and (len(by_content) > limit or _newest_end(next(iter(by_content.values()))) < horizon):
            by_content.popitem(last=False)


def _newest_end(scopes: dict[str | None, deque[_Seen]]) -> int:
    return max(seen[-1].end_ns for seen in scopes.values())
