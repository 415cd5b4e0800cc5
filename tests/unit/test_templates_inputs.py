"""A template's input schema made strict (templates/inputs.py): unknown inputs, string caps, field-named problems."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_gateway.templates.inputs import InputSchema, count_values

PICO_CONVERTED = {  # what Dotprompt makes of `ticket: string`, `tone?(enum): [a, b]`, `tags?(array): string`
    "type": "object",
    "properties": {
        "ticket": {"type": "string"},
        "tone": {"enum": ["a", "b", None]},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        "extra": {},
        "n": {"type": "integer", "minimum": 1},
    },
    "required": ["ticket"],
    "additionalProperties": False,
}


def problems(schema: dict[str, Any] | None, inputs: Any, cap: int = 10) -> list[tuple[str, str]]:
    return [(p.field, p.problem) for p in InputSchema(schema, cap).problems(inputs)]


def test_the_schema_callers_see_is_the_one_enforced() -> None:
    shown = InputSchema(PICO_CONVERTED, 10).schema
    assert shown["properties"]["ticket"] == {"type": "string", "maxLength": 10}
    assert shown["properties"]["tags"]["items"] == {"type": "string", "maxLength": 10}
    assert "maxLength" not in shown["properties"]["tone"]  # an enum is its own limit
    assert shown["properties"]["n"] == {"type": "integer", "minimum": 1}
    assert "gatewayMaxChars" not in str(shown)  # the deep cap on `any` is enforced, not shown


def test_no_schema_takes_no_inputs() -> None:
    assert InputSchema(None, 10).schema == {"type": "object", "properties": {}, "additionalProperties": False}
    assert problems(None, {}) == []
    assert problems(None, {"x": 1}) == [("inputs.x", "unknown input")]


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"ticket": "ok"}, []),
        ({}, [("inputs.ticket", "required")]),
        ({"ticket": 1}, [("inputs.ticket", "must be a string")]),
        ({"ticket": "x" * 11}, [("inputs.ticket", "must be at most 10 characters")]),
        ({"ticket": "ok", "other": 1}, [("inputs.other", "unknown input")]),
        ({"ticket": "ok", "tags": ["a", "b" * 11]}, [("inputs.tags[1]", "must be at most 10 characters")]),
        ({"ticket": "ok", "tone": "c"}, [("inputs.tone", 'must be one of "a", "b", null')]),
        ({"ticket": "ok", "n": 0}, [("inputs.n", "must be >= 1")]),
        ({"ticket": "ok", "n": True}, [("inputs.n", "must be an integer")]),
        (
            {"ticket": "ok", "extra": {"a": [{"b": "c" * 11}]}},
            [("inputs.extra.a[0].b", "must be at most 10 characters")],
        ),
        ({"ticket": "ok", "extra": {"k" * 11: 1}}, [(f"inputs.extra.{'k' * 11}", "must be at most 10 characters")]),
        ({"ticket": "<<<dotprompt:x"}, [("inputs.ticket", "must not contain <<<dotprompt: (a Dotprompt marker)")]),
        (
            {"ticket": "ok", "extra": {"<<<dotprompt:": 1}},
            [("inputs.extra.<<<dotprompt:", "must not contain <<<dotprompt: (a Dotprompt marker)")],
        ),
        ({"ticket": 1, "n": "2"}, [("inputs.n", "must be an integer"), ("inputs.ticket", "must be a string")]),
    ],
)
def test_each_refused_input_is_named(inputs: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert problems(PICO_CONVERTED, inputs, cap=20 if "<<<" in str(inputs) else 10) == expected


def test_nested_objects_refuse_unknown_fields_and_keep_their_own_limits() -> None:
    schema = {
        "type": "object",
        "properties": {
            "person": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 500}}},
            "free": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    shown = InputSchema(schema, 10).schema
    assert shown["additionalProperties"] is False and shown["properties"]["person"]["additionalProperties"] is False
    assert shown["properties"]["free"]["additionalProperties"] == {"type": "string", "maxLength": 10}
    assert problems(schema, {"person": {"name": "n" * 400}}) == []
    assert problems(schema, {"person": {"age": 3}}) == [("inputs.person.age", "unknown field")]
    assert problems(schema, {"free": {"anything": "x" * 11}}) == [
        ("inputs.free.anything", "must be at most 10 characters")
    ]


def test_conditions_are_not_tightened() -> None:
    """A cap inside `not` would turn it around: `not: {type: string}` must still refuse every string."""
    schema = {"type": "object", "properties": {"x": {"not": {"type": "string"}}}}
    assert problems(schema, {"x": "short"}) == [("inputs.x", "does not match the input schema (not)")]
    assert problems(schema, {"x": 3}) == []


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "array"}, "must describe an object"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {}}}, "is not supported"),
        ({"type": "object", "properties": {"a": {"type": "strnig"}}}, "input.schema:"),
    ],
)
def test_an_unusable_schema_is_a_start_problem(schema: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        InputSchema(schema, 10)


def test_values_are_counted_only_up_to_the_bound() -> None:
    assert count_values({"a": [1, [2, {"b": 3}]], "c": "x"}, 100) == 7
    assert count_values({"a": list(range(10_000))}, 10) == 11
    assert problems(PICO_CONVERTED, {"ticket": "ok", "extra": [[1]] * 600}) == [
        ("inputs", "at most 1000 values (strings, numbers, lists and objects together)")
    ]


def test_many_errors_are_bounded() -> None:
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(100)}}
    found = problems(schema, {f"p{i}": i for i in range(100)})
    assert 1 <= len(found) <= 21
