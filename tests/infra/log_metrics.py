"""The log-based metrics of infra/monitoring.tf as data: filters and extractors resolved, and evaluated.

Read from the parsed HCL (python-hcl2, no Terraform): `${local.X}` and
`${var.X}` references are resolved with sample variable values, each filter is
split into its ` AND `-joined comparisons, and a small evaluator runs the part
of the Cloud Logging query language and of the label-extractor functions
(EXTRACT, REGEXP_EXTRACT) that the filters use against an access line's
jsonPayload. tests/infra checks the filters' shape with it; the integration
test test_access_fields.py runs the function and checks every field the
Terraform names, and every filter, against real access lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.infra.conftest import INFRA, TF_FILES, parse_file

SAMPLE_VARS = {"function_name": "gemini-gateway", "project_id": "my-project-1"}

# Top-level fields of the access line (gemini_gateway/access_log.py,
# AccessLog.write) that a filter or an extractor may name.
ACCESS_LINE_FIELDS = frozenset(
    {
        "request_id",
        "status",
        "latency_ms",
        "upstream_ms",
        "upstream_reason",
        "upstream_status",
        "upstream_fix",
        "route",
        "caller",
        "model",
        "model_alias",
        "stream",
        "attempts",
        "cache_status",
        "finish_reason",
        "input_tokens",
        "output_tokens",
        "thinking_tokens",
        "cached_tokens",
        "total_tokens",
        "budget_spent",
        "error_type",
        "stream_error",
        "limit",
    }
)
# Cloud Logging lifts these out of jsonPayload (structured logging's special
# fields): a filter naming jsonPayload.<one of them> would never match.
LIFTED_FIELDS = frozenset({"httpRequest", "severity", "message", "logging.googleapis.com/trace"})

_TERM = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_.]*)(?P<op>:\*|=~|>=|<=|!=|=|>|<)(?P<value>.*)$")
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_EXTRACT = re.compile(r"^EXTRACT\((jsonPayload\.[A-Za-z_][A-Za-z0-9_]*)\)$")
_REGEXP_EXTRACT = re.compile(r'^REGEXP_EXTRACT\((jsonPayload\.[A-Za-z_][A-Za-z0-9_]*), "((?:[^"\\]|\\.)*)"\)$')
_PAYLOAD_FIELD = re.compile(r"\bjsonPayload\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Comparison:
    """One term of a filter: `field op value` (value None for the `:*` presence test)."""

    field: str
    op: str
    value: str | float | None

    def holds(self, payload: Mapping[str, Any]) -> bool:
        """This term against a jsonPayload (a term on another part of the entry: an error)."""
        name = payload_field(self.field)
        if name is None:
            raise ValueError(f"{self.field} is not a jsonPayload field")
        present = name in payload and payload[name] is not None
        if self.op == ":*":
            return present
        if not present:
            return False
        actual = payload[name]
        if self.op == "=~":
            return re.search(str(self.value), _as_text(actual)) is not None
        if isinstance(self.value, float):
            if isinstance(actual, bool) or not isinstance(actual, int | float):
                return False
            ops = {"=": actual == self.value, "!=": actual != self.value, ">": actual > self.value}
            ops.update({">=": actual >= self.value, "<": actual < self.value, "<=": actual <= self.value})
            return ops[self.op]
        if self.op == "=":
            return _as_text(actual) == self.value
        if self.op == "!=":
            return _as_text(actual) != self.value
        raise ValueError(f"unsupported comparison {self}")


@dataclass(frozen=True)
class LogMetric:
    """One google_logging_metric, resolved."""

    resource: str  # the resource name in monitoring.tf
    name: str  # the metric name, sample variables filled in
    filter: str
    terms: tuple[Comparison, ...]
    value_extractor: str | None
    label_extractors: dict[str, str]
    descriptor_labels: tuple[str, ...]
    value_type: str

    def matches(self, payload: Mapping[str, Any]) -> bool:
        """Whether an access line (its jsonPayload) is counted, the resource and log name taken as matching."""
        return all(t.holds(payload) for t in self.terms if t.field.startswith("jsonPayload."))

    def labels(self, payload: Mapping[str, Any]) -> dict[str, str | None]:
        return {key: extract(extractor, payload) for key, extractor in self.label_extractors.items()}

    def fields(self) -> set[str]:
        """Every jsonPayload field the filter and the extractors name."""
        texts = [self.filter, self.value_extractor or "", *self.label_extractors.values()]
        return {m for text in texts for m in _PAYLOAD_FIELD.findall(text)}


def payload_field(path: str) -> str | None:
    return path.removeprefix("jsonPayload.") if path.startswith("jsonPayload.") else None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_filter(text: str) -> tuple[Comparison, ...]:
    """The ` AND `-joined comparisons of a filter; anything outside that small grammar is an error."""
    terms = []
    for raw in text.split(" AND "):
        match = _TERM.match(raw.strip())
        if not match:
            raise ValueError(f"not a simple comparison: {raw!r}")
        op, value_text = match["op"], match["value"]
        value: str | float | None
        if op == ":*":
            if value_text:
                raise ValueError(f"trailing text after :* in {raw!r}")
            value = None
        elif string := _STRING.match(value_text):
            value = re.sub(r"\\(.)", r"\1", string.group(1))
        elif _NUMBER.match(value_text):
            value = float(value_text)
        else:
            raise ValueError(f"value is neither a quoted string nor a number: {raw!r}")
        terms.append(Comparison(match["field"], op, value))
    return tuple(terms)


def extract(extractor: str, payload: Mapping[str, Any]) -> str | None:
    """A label or value extractor applied to a jsonPayload: the value as text, or None (label left empty)."""
    if match := _EXTRACT.match(extractor):
        name = payload_field(match.group(1))
        assert name is not None
        value = payload.get(name)
        return None if value is None else _as_text(value)
    if match := _REGEXP_EXTRACT.match(extractor):
        name = payload_field(match.group(1))
        assert name is not None
        value = payload.get(name)
        if value is None:
            return None
        pattern = re.sub(r"\\(.)", r"\1", match.group(2))
        found = re.search(pattern, _as_text(value))
        return found.group(1) if found else None
    raise ValueError(f"not an EXTRACT or REGEXP_EXTRACT of a jsonPayload field: {extractor!r}")


# --- resolving the HCL ---------------------------------------------------------------------------


def _parsed() -> dict[str, dict[str, Any]]:
    return {p.name: parse_file(p) for p in TF_FILES}


def _locals(parsed: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for doc in parsed.values():
        for entry in doc.get("locals", []):
            out.update(entry)
    return out


_HCL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def resolve(value: str, local: Mapping[str, Any], variables: Mapping[str, str] = SAMPLE_VARS) -> str:
    """`${var.X}`, `${local.X}` and `${local.X.Y}` filled in; a local that is a
    `join("SEP", [...])` of string literals is joined. Anything else is an error."""

    def local_value(name: str) -> str:
        path = name.split(".")
        value: Any = local[path[0]]
        for key in path[1:]:
            value = value[key]
        if not isinstance(value, str):
            raise ValueError(f"local.{name} is not a string")
        join = re.fullmatch(r'\$\{join\((".*?"), \[(.*)\]\)\}', value, re.S)
        if join:
            sep, *parts = (re.sub(r"\\(.)", r"\1", s) for s in _HCL_STRING.findall(join.group(1) + join.group(2)))
            value = sep.join(parts)
        return resolve(value, local, variables)

    def one(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        return variables[name] if kind == "var" else local_value(name)

    resolved = re.sub(r"\$\{(var|local)\.([A-Za-z_][A-Za-z0-9_.]*)\}", one, value)
    if "${" in resolved:
        raise ValueError(f"cannot resolve {value!r}")
    return resolved


def log_metrics(parsed: Mapping[str, dict[str, Any]] | None = None) -> dict[str, LogMetric]:
    """Every google_logging_metric of infra/, by resource name."""
    parsed = parsed if parsed is not None else _parsed()
    local = _locals(parsed)
    out: dict[str, LogMetric] = {}
    for doc in parsed.values():
        for entry in doc.get("resource", []):
            for name, body in entry.get("google_logging_metric", {}).items():
                (descriptor,) = body["metric_descriptor"]
                filter_text = resolve(body["filter"], local)
                out[name] = LogMetric(
                    resource=name,
                    name=resolve(body["name"], local),
                    filter=filter_text,
                    terms=parse_filter(filter_text),
                    value_extractor=resolve(body["value_extractor"], local) if "value_extractor" in body else None,
                    label_extractors={k: resolve(v, local) for k, v in body.get("label_extractors", {}).items()},
                    descriptor_labels=tuple(label["key"] for label in descriptor.get("labels", [])),
                    value_type=descriptor["value_type"],
                )
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def named_payload_fields() -> set[str]:
    """Every jsonPayload.X the Terraform names anywhere (filters, extractors, dashboard panels), comments excluded."""
    found: set[str] = set()
    for doc in _parsed().values():
        for text in _strings(doc):
            found.update(_PAYLOAD_FIELD.findall(text))
    return found


__all__ = [
    "ACCESS_LINE_FIELDS",
    "INFRA",
    "LIFTED_FIELDS",
    "SAMPLE_VARS",
    "Comparison",
    "LogMetric",
    "extract",
    "log_metrics",
    "named_payload_fields",
    "parse_filter",
    "resolve",
]
