"""gemini_gateway.normalize: Gemini answers → the response fields of docs/API.md §4."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gemini_gateway.normalize import MalformedAnswer, Usage, finish_reason, parse_json_text, read_answer, usage_of


def test_real_answer(generate_response: dict[str, Any]) -> None:
    answer = read_answer(generate_response)
    assert answer.text == "Mountain View"  # the thought part is left out
    assert answer.texts == ["Mountain View"]
    assert answer.finish_reason == "stop"
    assert answer.blocked_reason is None
    assert answer.response_id == "2pmHaJqQEoqC-8YP6eStyAY"
    assert answer.model_version == "gemini-2.5-flash"
    assert answer.usage == Usage(input_tokens=14, output_tokens=2, thinking_tokens=24, cached_tokens=0, total_tokens=40)
    assert answer.usage.as_dict() == {
        "input_tokens": 14,
        "output_tokens": 2,
        "thinking_tokens": 24,
        "cached_tokens": 0,
        "total_tokens": 40,
    }


def test_real_stream_chunks(stream_chunks: list[Any]) -> None:
    assert len(stream_chunks) == 5
    answers = [read_answer(chunk, require_candidate=False) for chunk in stream_chunks]
    assert [a.text for a in answers[:3]] == ["", "", ""]  # thought-only chunks
    assert "".join(a.text for a in answers) == (
        "The sky is blue because tiny gas molecules in Earth's atmosphere scatter blue light from the sun more "
        "efficiently than other colors. Blue light has shorter, smaller wavelengths, causing it to be scattered in "
        "all directions, making the sky appear blue to our eyes."
    )
    assert [a.finish_reason for a in answers] == [None, None, None, None, "stop"]
    assert {a.response_id for a in answers} == {"0J-HaJetAqv0jrEPwu-tsQ0"}
    last = answers[-1].usage
    assert last == Usage(input_tokens=10, output_tokens=48, thinking_tokens=540, cached_tokens=0, total_tokens=598)
    first = answers[0].usage
    assert first is not None and first.output_tokens == 0 and first.thinking_tokens == 70


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
        ("IMAGE_RECITATION", "content_filter"),
        ("IMAGE_OTHER", "content_filter"),
        ("RECITATION", "recitation"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("UNEXPECTED_TOOL_CALL", "error"),
        ("TOO_MANY_TOOL_CALLS", "error"),
        ("OTHER", "other"),
        ("LANGUAGE", "other"),
        ("FINISH_REASON_UNSPECIFIED", "other"),
        ("SOMETHING_GOOGLE_ADDS_LATER", "other"),
        ("", "other"),
        ("stop", "other"),
    ],
)
def test_finish_reason(raw: str, ours: str) -> None:
    assert finish_reason(raw) == ours
    body = {"candidates": [{"content": {"parts": [{"text": "t"}]}, "finishReason": raw}]}
    assert read_answer(body).finish_reason == ours


def test_blocked_prompt() -> None:
    body = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    }
    answer = read_answer(body)
    assert answer.text == ""
    assert answer.finish_reason == "blocked"
    assert answer.blocked_reason == "PROHIBITED_CONTENT"
    assert answer.usage == Usage(input_tokens=9, total_tokens=9)
    assert answer.response_id == "r1"


def test_blocked_reason_wins_over_candidates() -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "candidates": [{"content": {"parts": [{"text": "x"}]}}]}
    answer = read_answer(body)
    assert (answer.text, answer.finish_reason, answer.blocked_reason) == ("", "blocked", "SAFETY")


def test_prompt_feedback_without_block_reason_is_ignored() -> None:
    body = {"promptFeedback": {"safetyRatings": []}, "candidates": [{"content": {"parts": [{"text": "ok"}]}}]}
    answer = read_answer(body)
    assert answer.text == "ok" and answer.blocked_reason is None


@pytest.mark.parametrize(
    ("body", "text", "reason"),
    [
        ({"candidates": [{}]}, "", None),
        ({"candidates": [{"finishReason": "SAFETY"}]}, "", "content_filter"),
        ({"candidates": [{"content": {}}]}, "", None),
        ({"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}]}, "", "length"),
        ({"candidates": [{"content": {"parts": []}}]}, "", None),
        (
            {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}}]},
            "",
            None,
        ),
        ({"candidates": [{"content": {"parts": [{"text": "a"}, {"functionCall": {}}, {"text": "b"}]}}]}, "ab", None),
        ({"candidates": [{"content": {"parts": [{"text": "a", "thought": False}]}}]}, "a", None),
        ({"candidates": [{"content": {"parts": [{"text": "x", "thought": True}, {"text": ""}]}}]}, "", None),
        (
            {"candidates": [{"content": {"parts": [{"text": "first"}]}}, {"content": {"parts": [{"text": "2nd"}]}}]},
            "first",
            None,
        ),
    ],
)
def test_missing_fields_tolerated(body: dict[str, Any], text: str, reason: str | None) -> None:
    answer = read_answer(body)
    assert answer.text == text
    assert answer.finish_reason == reason
    assert answer.usage is None and answer.response_id is None and answer.model_version is None


def test_absent_usage_counts_are_zero() -> None:
    assert usage_of({}) == Usage(0, 0, 0, 0, 0)
    assert usage_of({"promptTokenCount": 3, "cachedContentTokenCount": 2}) == Usage(input_tokens=3, cached_tokens=2)


@pytest.mark.parametrize("body", [{}, {"candidates": []}, {"candidates": None}, {"usageMetadata": {}}])
def test_no_candidate_is_malformed_unless_streaming(body: dict[str, Any]) -> None:
    with pytest.raises(MalformedAnswer):
        read_answer(body)
    answer = read_answer(body, require_candidate=False)
    assert answer.text == "" and answer.finish_reason is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        [{"candidates": []}],
        {"candidates": {}},
        {"candidates": "x"},
        {"candidates": [1]},
        {"candidates": [None]},
        {"candidates": [{"finishReason": 1}]},
        {"candidates": [{"content": "text"}]},
        {"candidates": [{"content": {"parts": {}}}]},
        {"candidates": [{"content": {"parts": ["text"]}}]},
        {"candidates": [{"content": {"parts": [{"text": 5}]}}]},
        {"candidates": [{"content": {"parts": [{"text": ["a"]}]}}]},
        {"promptFeedback": "blocked"},
        {"promptFeedback": ["SAFETY"]},
        {"usageMetadata": []},
        {"usageMetadata": {"promptTokenCount": "14"}, "candidates": [{}]},
        {"usageMetadata": {"promptTokenCount": -1}, "candidates": [{}]},
        {"usageMetadata": {"totalTokenCount": 1.5}, "candidates": [{}]},
        {"usageMetadata": {"totalTokenCount": True}, "candidates": [{}]},
        {"responseId": 5, "candidates": [{}]},
        {"modelVersion": ["x"], "candidates": [{}]},
    ],
)
def test_malformed_structures(body: Any) -> None:
    with pytest.raises(MalformedAnswer):
        read_answer(body, require_candidate=False)


def test_every_real_field_dropped_one_at_a_time_is_tolerated(generate_response: dict[str, Any]) -> None:
    for path in [
        ("usageMetadata",),
        ("modelVersion",),
        ("responseId",),
        ("candidates", 0, "finishReason"),
        ("candidates", 0, "content", "role"),
        ("candidates", 0, "content", "parts", 1, "text"),
        ("usageMetadata", "thoughtsTokenCount"),
    ]:
        body = copy.deepcopy(generate_response)
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
        read_answer(body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"city": "Mountain View"}', (True, {"city": "Mountain View"})),
        ("[1, 2]", (True, [1, 2])),
        ("Mountain View", (False, None)),
        ("", (False, None)),
        ("```json\n{}\n```", (False, None)),
    ],
)
def test_parse_json_text(text: str, expected: tuple[bool, Any]) -> None:
    assert parse_json_text(text) == expected


@pytest.mark.parametrize("text", ["NaN", "Infinity", '{"x": -Infinity}'])
def test_parse_json_text_refuses_non_json_numbers(text: str) -> None:
    assert parse_json_text(text) == (False, None)
