"""gemini_gateway.freeform: the operator's controls of free-form requests as pure functions, and their settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from gemini_gateway.errors import InvalidRequest
from gemini_gateway.freeform.controls import Ask, apply_controls, media_type_allowed
from gemini_gateway.freeform.safety import THRESHOLDS, check_safety, upstream_safety
from gemini_gateway.freeform.settings import IMAGE_TYPES
from gemini_gateway.policies import PolicyError, parse_policies
from gemini_gateway.settings import ConfigError, load_settings

HATE, HARASS, DANGER = "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_DANGEROUS_CONTENT"


@dataclass(frozen=True)
class Policy:
    safety_floor: dict[str, str] = field(default_factory=dict)
    allowed_modalities: tuple[str, ...] = ()
    allow_system_instruction: bool = True


@dataclass(frozen=True)
class Deployment:
    allowed_media_types: tuple[str, ...] = IMAGE_TYPES
    allowed_generation_options: tuple[str, ...] = ()


def refusal(ask: Ask, policy: Policy | None = None, settings: Deployment | None = None) -> tuple[str, str]:
    with pytest.raises(InvalidRequest) as info:
        apply_controls(ask, policy or Policy(), settings or Deployment())
    (problem,) = info.value.details
    assert info.value.message == f"{problem.field}: {problem.problem}"
    return problem.field, problem.problem


# --------------------------------------------------------------------------- safety floor


def test_strictness_order_is_google_order() -> None:
    assert THRESHOLDS == ("BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF")


@pytest.mark.parametrize("threshold", ["BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"])
def test_looser_than_the_floor_is_refused_by_field(threshold: str) -> None:
    floor = {HATE: "BLOCK_MEDIUM_AND_ABOVE"}
    ask = Ask(safety=[("safetySettings[0]", HARASS, "OFF"), ("safetySettings[1]", HATE, threshold)])
    field, problem = refusal(ask, Policy(safety_floor=floor))
    assert field == "safetySettings[1].threshold"
    assert threshold in problem and "BLOCK_MEDIUM_AND_ABOVE" in problem and HATE in problem


@pytest.mark.parametrize("threshold", ["BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE"])
def test_as_strict_or_stricter_is_kept(threshold: str) -> None:
    asked = [("safetySettings[0]", HATE, threshold)]
    check_safety(asked, {HATE: "BLOCK_MEDIUM_AND_ABOVE"})
    assert upstream_safety(asked, {HATE: "BLOCK_MEDIUM_AND_ABOVE"}) == [{"category": HATE, "threshold": threshold}]


def test_the_floor_fills_every_category_left_unset_after_the_callers_own() -> None:
    floor = {HATE: "BLOCK_ONLY_HIGH", DANGER: "BLOCK_LOW_AND_ABOVE"}
    asked = [("safetySettings[0]", HARASS, "OFF"), ("safetySettings[1]", DANGER, "BLOCK_LOW_AND_ABOVE")]
    sent = apply_controls(Ask(safety=asked), Policy(safety_floor=floor), Deployment())
    assert sent == [
        {"category": HARASS, "threshold": "OFF"},  # no floor for it: the caller decides
        {"category": DANGER, "threshold": "BLOCK_LOW_AND_ABOVE"},
        {"category": HATE, "threshold": "BLOCK_ONLY_HIGH"},
    ]


def test_unspecified_counts_as_unset_under_a_floor() -> None:
    asked = [("safetySettings[0]", HATE, "HARM_BLOCK_THRESHOLD_UNSPECIFIED")]
    check_safety(asked, {HATE: "BLOCK_LOW_AND_ABOVE"})
    assert upstream_safety(asked, {HATE: "BLOCK_LOW_AND_ABOVE"}) == [
        {"category": HATE, "threshold": "BLOCK_LOW_AND_ABOVE"}
    ]


def test_no_floor_leaves_the_callers_settings_alone() -> None:
    asked = [("safetySettings[0]", HATE, "OFF")]
    assert apply_controls(Ask(safety=asked), Policy(), Deployment()) is None
    assert apply_controls(Ask(), Policy(), Deployment()) is None


def test_a_route_without_safety_fields_gets_the_whole_floor() -> None:
    floor = {HATE: "BLOCK_ONLY_HIGH", HARASS: "BLOCK_MEDIUM_AND_ABOVE"}
    assert apply_controls(Ask(), Policy(safety_floor=floor), Deployment()) == [
        {"category": HATE, "threshold": "BLOCK_ONLY_HIGH"},
        {"category": HARASS, "threshold": "BLOCK_MEDIUM_AND_ABOVE"},
    ]


@pytest.mark.parametrize(
    ("category", "threshold", "field"),
    [
        ("HARM_CATEGORY_MADE_UP", "OFF", "s[0].category"),
        ("HARM_CATEGORY_IMAGE_HATE", "OFF", "s[0].category"),  # Vertex AI's, not the Gemini API's
        (HATE, "BLOCK_SOME", "s[0].threshold"),
    ],
)
def test_invented_names_are_refused_even_without_a_floor(category: str, threshold: str, field: str) -> None:
    assert refusal(Ask(safety=[("s[0]", category, threshold)]))[0] == field


# --------------------------------------------------------------------------- modalities, media, options, system


def test_output_beyond_text_needs_the_modality() -> None:
    ask = Ask(modalities=[("generationConfig.responseModalities[1]", "image")])
    field, problem = refusal(ask)
    assert field == "generationConfig.responseModalities[1]" and problem.startswith("image output is not allowed")
    assert apply_controls(ask, Policy(allowed_modalities=("image",)), Deployment()) is None
    audio = Ask(modalities=[("generationConfig.speechConfig", "audio")])
    assert refusal(audio, Policy(allowed_modalities=("image",)))[1].endswith("(allowed: text, image)")


@pytest.mark.parametrize(
    ("media_type", "allowed", "expected"),
    [
        ("image/png", IMAGE_TYPES, True),
        ("IMAGE/PNG", IMAGE_TYPES, True),
        ("image/gif", IMAGE_TYPES, False),
        ("audio/wav", ("audio/*",), True),
        ("audio/wav", ("audio/mp3",), False),
        ("application/pdf", ("application/pdf",), True),
        ("application/pdfx", ("application/pdf",), False),
        ("video/mp4", ("audio/*",), False),
    ],
)
def test_media_types_exact_or_by_major_type(media_type: str, allowed: tuple[str, ...], expected: bool) -> None:
    assert media_type_allowed(media_type, allowed) is expected


def test_media_refusal_names_the_part() -> None:
    where = "contents[0].parts[1].functionResponse.parts[0].inlineData.mimeType"
    ask = Ask(media_types=[("contents[0].parts[0].inlineData.mimeType", "image/png"), (where, "video/mp4")])
    field, problem = refusal(ask)
    assert field == where and problem.startswith("video/mp4 is not an inline media type allowed here")
    assert apply_controls(ask, Policy(), Deployment(allowed_media_types=("image/png", "video/*"))) is None


def test_system_instruction_per_policy() -> None:
    ask = Ask(system_instruction="messages[0].role")
    assert apply_controls(ask, Policy(), Deployment()) is None
    assert refusal(ask, Policy(allow_system_instruction=False))[0] == "messages[0].role"
    assert apply_controls(Ask(), Policy(allow_system_instruction=False), Deployment()) is None


@pytest.mark.parametrize(
    ("option", "field", "says"),
    [
        ("logprobs", "generationConfig.responseLogprobs", "log probabilities"),
        ("media_resolution_high", "generationConfig.mediaResolution", "MEDIA_RESOLUTION_HIGH"),
    ],
)
def test_generation_options_need_the_setting(option: str, field: str, says: str) -> None:
    ask = Ask(options=[(field, option)])
    got, problem = refusal(ask)
    assert got == field and says in problem
    assert apply_controls(ask, Policy(), Deployment(allowed_generation_options=(option,))) is None


# --------------------------------------------------------------------------- settings and policies

BASE = {
    "CLOUDFLARE_ACCOUNT_ID": "test-account",
    "AI_GATEWAY_ID": "test-gateway",
    "GEMINI_API_KEY": "test-gemini-key-1",
    "ALLOW_UNAUTHENTICATED": "true",
}


def test_defaults_are_a_chat_apps() -> None:
    settings = load_settings(BASE).settings
    assert settings.safety_floor == {}
    assert settings.allowed_modalities == ()
    assert settings.allowed_media_types == IMAGE_TYPES
    assert settings.allowed_generation_options == ()


def test_settings_parse() -> None:
    settings = load_settings(
        {
            **BASE,
            "SAFETY_FLOOR": " harm_category_hate_speech = block_only_high , HARM_CATEGORY_DANGEROUS_CONTENT=OFF",
            "ALLOWED_MODALITIES": "Image,audio",
            "ALLOWED_MEDIA_TYPES": "image/png,Audio/*,application/pdf",
            "ALLOWED_GENERATION_OPTIONS": "logprobs, media_resolution_high",
        }
    ).settings
    assert settings.safety_floor == {HATE: "BLOCK_ONLY_HIGH", DANGER: "OFF"}
    assert settings.allowed_modalities == ("image", "audio")
    assert settings.allowed_media_types == ("image/png", "audio/*", "application/pdf")
    assert settings.allowed_generation_options == ("logprobs", "media_resolution_high")


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SAFETY_FLOOR", "HARM_CATEGORY_MADE_UP=BLOCK_NONE", "HARM_CATEGORY_MADE_UP is not a Gemini API harm category"),
        ("SAFETY_FLOOR", "HARM_CATEGORY_CIVIC_INTEGRITY=BLOCK_NONE", "HARM_CATEGORY_CIVIC_INTEGRITY"),
        ("SAFETY_FLOOR", f"{HATE}=BLOCK_SOME", "BLOCK_SOME is not a block threshold"),
        ("SAFETY_FLOOR", f"{HATE}=HARM_BLOCK_THRESHOLD_UNSPECIFIED", "is not a block threshold"),
        ("SAFETY_FLOOR", f"{HATE}=OFF,{HATE}=BLOCK_NONE", "given twice"),
        ("SAFETY_FLOOR", "HATE", "is not HARM_CATEGORY_X=THRESHOLD"),
        ("ALLOWED_MODALITIES", "video", "'video' is not one of"),
        ("ALLOWED_MEDIA_TYPES", "pdf", "is not a media type"),
        ("ALLOWED_GENERATION_OPTIONS", "everything", "'everything' is not one of logprobs"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, variable: value})
    ((named, problem),) = info.value.problems
    assert named == variable and says in problem


def test_policy_values_are_checked_alike() -> None:
    policies = parse_policies(json.dumps({"ios": {"safety_floor": {HATE: "block_low_and_above"}}}))
    settings = load_settings(BASE).settings
    assert policies.for_caller("ios", settings).safety_floor == {HATE: "BLOCK_LOW_AND_ABOVE"}
    with pytest.raises(PolicyError, match="HARM_CATEGORY_MADE_UP"):
        parse_policies(json.dumps({"ios": {"safety_floor": {"HARM_CATEGORY_MADE_UP": "OFF"}}}))


def test_an_empty_policy_floor_removes_the_global_one() -> None:
    settings = load_settings({**BASE, "SAFETY_FLOOR": f"{HATE}=BLOCK_LOW_AND_ABOVE"}).settings
    policies = parse_policies(json.dumps({"backend": {"safety_floor": {}}}))
    assert policies.for_caller("backend", settings).safety_floor == {}
    assert policies.for_caller("ios", settings).safety_floor == {HATE: "BLOCK_LOW_AND_ABOVE"}
