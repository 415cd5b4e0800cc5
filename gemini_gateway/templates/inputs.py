"""A template's input schema, made strict, and the validator that names each refused input.

What the template declares (Picoschema, already JSON Schema here, or JSON
Schema) is tightened before anyone sees it, so GET /v1/templates and
openapi.json show the rules that are enforced:

- an object schema that lists `properties` and says nothing about others
  refuses unknown keys (`additionalProperties: false`), at every level;
- every schema that accepts a string and has no `maxLength` of its own gets
  TEMPLATE_INPUT_MAX_CHARS; a value of type any is capped all the way down
  (its strings and keys, however deep), by a keyword of this module's own;
- `$ref` is refused at start: a template's schema stands alone, so it can be
  shown inside another document.

Problems are `Problem("inputs.<path>", ...)` in the function's own words,
never with the value that was sent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

import jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend, validator_for

from ..errors import Problem

__all__ = ["MARKER", "MAX_VALUES", "InputSchema", "count_values", "field_path"]

MARKER = "<<<dotprompt:"  # what Dotprompt splits a rendered template on
# Values (strings, numbers, lists, objects) in one request's inputs: checking and rendering them is pure Python
# (~0.1 ms a value), so this bounds what one request can cost (docs/API.md, "Server prompt templates").
MAX_VALUES = 1000
_ANY_CAP = "gatewayMaxChars"  # this module's keyword on a schema of type any: every string inside is capped
_MAX_PROBLEMS = 20
# Where values are checked against a subschema (tightened too); not `not`, `if` or `contains`, whose
# subschemas decide rather than constrain: a cap added there would change what they decide.
_SUBSCHEMAS = ("items", "additionalProperties", "propertyNames", "unevaluatedProperties", "then", "else")
_SUBSCHEMAS_BY_NAME = ("properties", "patternProperties", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems", "items")
_STRUCTURE = {
    "type",
    "enum",
    "const",
    "properties",
    "items",
    "prefixItems",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


class InputSchema:
    """The strict schema callers see, and a validator of `inputs` against it (plus what the schema cannot say)."""

    def __init__(self, declared: Mapping[str, Any] | None, max_chars: int) -> None:
        """ValueError (the reason, naming the schema's place) when the declared schema is not usable."""
        schema = copy.deepcopy(dict(declared)) if declared else {"type": "object", "properties": {}}
        if schema.get("type") != "object":
            raise ValueError("input.schema: must describe an object (type: object), one property per input")
        _refuse_refs(schema, "input.schema")
        _tighten(schema, max_chars, checked=False)
        self.schema: dict[str, Any] = schema
        checked = copy.deepcopy(schema)
        _tighten(checked, max_chars, checked=True)
        cls = validator_for(checked, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(checked)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"input.schema: {exc.message[:200]}") from None
        self._validator = extend(cls, {_ANY_CAP: _cap_strings})(checked)  # type: ignore[no-untyped-call]
        self.required = tuple(schema.get("required", ()))

    def problems(self, inputs: Mapping[str, Any]) -> list[Problem]:
        """Every refused input (one problem per field, at most 20), in path order; empty when they are fine."""
        if count_values(inputs, MAX_VALUES) > MAX_VALUES:
            return [Problem("inputs", f"at most {MAX_VALUES} values (strings, numbers, lists and objects together)")]
        found: dict[str, Problem] = {}
        for error in self._validator.iter_errors(dict(inputs)):
            for problem in _problems(error):
                found.setdefault(problem.field, problem)
            if len(found) >= _MAX_PROBLEMS:
                break
        for path, _ in _marked(inputs):
            found.setdefault(path, Problem(path, f"must not contain {MARKER} (a Dotprompt marker)"))
        return sorted(found.values(), key=lambda p: p.field)


def count_values(inputs: Mapping[str, Any], limit: int) -> int:
    """How many values `inputs` holds, counted up to `limit` + 1 at most (the walk stops there)."""
    count, stack = 0, list(inputs.values())
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


def field_path(path: Iterable[Any]) -> str:
    out = "inputs"
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else f".{item}"
    return out


def _problems(error: ValidationError) -> list[Problem]:
    """The caller's own words for one jsonschema error (never its value)."""
    where = field_path(error.absolute_path)
    kind, expected, instance = error.validator, cast(Any, error.validator_value), error.instance
    if kind == "required":
        missing = [name for name in expected if isinstance(instance, dict) and name not in instance]
        return [Problem(f"{where}.{name}", "required") for name in missing[:1]]
    if kind == "additionalProperties" and isinstance(instance, dict):
        declared = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = "unknown input" if where == "inputs" else "unknown field"
        return [Problem(f"{where}.{name}", unknown) for name in instance if name not in declared][:1]
    return [Problem(where, _problem(str(kind), expected))]


def _problem(kind: str, expected: Any) -> str:
    if kind == "type":
        kinds = [expected] if isinstance(expected, str) else list(expected)
        return "must be " + " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
    if kind in ("maxLength", _ANY_CAP):
        return f"must be at most {expected} characters"
    if kind == "minLength":
        return "must not be empty" if expected == 1 else f"must be at least {expected} characters"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return f"must be {sign} {expected}"
    if kind in ("minItems", "maxItems"):
        return f"must have {'at least' if kind == 'minItems' else 'at most'} {expected} items"
    if kind == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in expected)[:300]
    if kind == "const":
        return "must be " + json.dumps(expected)[:300]
    if kind == "pattern":
        return f"must match {expected}"[:300]
    return f"does not match the input schema ({kind})"


def _refuse_refs(schema: Any, where: str) -> None:
    stack = [(schema, where)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict):
            for key in ("$ref", "$dynamicRef", "$defs", "definitions"):
                if key in node:
                    raise ValueError(f"{at}: {key} is not supported (write the schema inline)")
            stack.extend((value, f"{at}.{key}") for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, at) for value in node)


def _tighten(schema: dict[str, Any], max_chars: int, *, checked: bool) -> None:
    """Unknown keys refused where properties are listed; strings capped (and, if `checked`, any-values too)."""
    for node in _subschemas(schema):
        if "properties" in node and not {"additionalProperties", "patternProperties", "unevaluatedProperties"} & set(
            node
        ):
            node["additionalProperties"] = False
        kinds = node.get("type")
        accepts_string = kinds is None or kinds == "string" or (isinstance(kinds, list) and "string" in kinds)
        if accepts_string and "maxLength" not in node and "enum" not in node and "const" not in node:
            node["maxLength"] = max_chars
        if checked and not _STRUCTURE & set(node):
            node[_ANY_CAP] = node.get("maxLength", max_chars)


def _subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = [schema]
    while stack:
        node = stack.pop()
        yield node
        for key in _SUBSCHEMAS:
            if isinstance(node.get(key), dict):
                stack.append(node[key])
        for key in _SUBSCHEMAS_BY_NAME:
            if isinstance(node.get(key), dict):
                stack.extend(v for v in node[key].values() if isinstance(v, dict))
        for key in _SUBSCHEMA_LISTS:
            if isinstance(node.get(key), list):
                stack.extend(v for v in node[key] if isinstance(v, dict))


def _cap_strings(validator: Any, cap: int, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """The keyword on a schema of type any: every string (and key) inside `instance` is at most `cap` characters."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(instance, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str) and len(value) > cap:
            yield ValidationError(f"at most {cap} characters", validator=_ANY_CAP, validator_value=cap, path=path)
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if len(key) > cap:
                    yield ValidationError("key", validator=_ANY_CAP, validator_value=cap, path=(*path, key))
                    return
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))


def _marked(inputs: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(path, string) for each string or key in `inputs` that holds a Dotprompt marker."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(dict(inputs), ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if MARKER in value:
                yield field_path(list(path)), value
        elif isinstance(value, dict):
            for key, item in value.items():
                if MARKER in key:
                    yield field_path([*path, key]), key
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
