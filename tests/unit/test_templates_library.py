"""Loading PROMPTS_DIR (templates/library.py): what a template fixes, and every start problem naming its file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gemini_gateway.openapi import build_openapi
from gemini_gateway.runtime import configuration_problems
from gemini_gateway.settings import Settings, load_settings
from gemini_gateway.templates.library import load_templates, read_templates, template_files

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "prompts"
ENV = {
    "CLOUDFLARE_ACCOUNT_ID": "acc",
    "AI_GATEWAY_ID": "gw",
    "GEMINI_API_KEY": "fake-test-key",
    "ALLOW_UNAUTHENTICATED": "true",
    "ALLOWED_MODELS": "gemini-2.5-flash,gemini-3.8-flash,gemini-2.5-pro",
    "DEFAULT_MODEL": "gemini-2.5-flash",
    "MODEL_ALIASES": "fast=gemini-2.5-pro",
}


def settings(directory: Path, **env: str) -> Settings:
    return load_settings({**ENV, "PROMPTS_DIR": str(directory), **env}).settings


def write(directory: Path, **files: str) -> Path:
    for name, text in files.items():
        (directory / f"{name}.prompt").write_text(text, encoding="utf-8")
    return directory


def test_fixture_templates_load_with_what_they_fix() -> None:
    library, problems = load_templates(settings(FIXTURES), explicit=True)
    assert problems == [] and sorted(library.templates) == ["chat", "profile", "triage"]
    triage = library.get("triage")
    assert triage is not None and triage.model == "gemini-3.8-flash" and triage.wants_json
    assert triage.fields["temperature"] == 0.2 and triage.max_output_tokens == 256
    assert triage.file == f"{FIXTURES}/triage.prompt" and not triage.uses_history
    chat = library.get("chat")
    assert chat is not None and chat.uses_history and chat.model is None and not chat.wants_json
    assert library.get("header") is None  # `_header.prompt` is a partial
    assert [t.id for t in library.visible(("triage", "nope"))] == ["triage"]


def test_no_directory_or_no_template_costs_nothing(tmp_path: Path) -> None:
    assert template_files(tmp_path / "absent") == [] and template_files(tmp_path) == []
    library, problems = load_templates(settings(tmp_path), explicit=True)
    assert len(library) == 0 and problems == []
    absent = settings(tmp_path / "absent")
    assert load_templates(absent, explicit=False)[1] == []  # the default `prompts` may be absent
    assert load_templates(absent, explicit=True)[1] == [("PROMPTS_DIR", f"{tmp_path}/absent is not a directory")]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("---\nmodel: [unclosed\n---\nHi", "frontmatter: invalid YAML"),
        ("---\nmodel: gemini-1.0-pro\n---\nHi", "model gemini-1.0-pro is not allowed (ALLOWED_MODELS: "),
        ("---\nmodel: googleai/gemini-2.5-pro\n---\nHi", None),
        ("---\nmodel: fast\n---\nHi", None),
        (
            "---\ntools: [google_search]\n---\nHi",
            "the built-in tool google_search is not allowed (ALLOWED_TOOLS: none)",
        ),
        ("---\ntools: [lookup_order]\n---\nHi", "lookup_order is not a built-in tool"),
        ("---\nconfig:\n  maxOutputTokens: 100000\n---\nHi", "config.maxOutputTokens: must be <= 8192"),
        ("---\nconfig:\n  temperature: 3\n---\nHi", "config: temperature: must be <= 2"),
        ("---\nconfig:\n  topP: '0.5'\n---\nHi", "config: top_p: must be a number"),
        ("---\nconfig:\n  safetySettings: []\n---\nHi", "config.safetySettings: not a setting a template may fix"),
        ("---\nconfig:\n  thinkingConfig: {thinkingLevel: LOW}\n---\nHi", None),
        ("---\nconfig:\n  thinkingConfig: {includeThoughts: true}\n---\nHi", "config.thinkingConfig.includeThoughts"),
        ("---\ntemperature: 1\n---\nHi", "temperature: not a frontmatter key"),
        ("---\ninput:\n  schema: {a: string}\n  defaults: {a: x}\n---\n{{a}}", "input.defaults: unknown"),
        ("---\ninput:\n  schema:\n    name: strng\n---\n{{name}}", "unsupported scalar type 'strng'"),
        (
            "---\ninput:\n  schema: {n: integer}\n  default: {n: many}\n---\n{{n}}",
            "input.default: n: must be an integer",
        ),
        ("---\noutput:\n  format: media\n---\nHi", "output.format: media is not one of text, json"),
        ('{{role "tool"}}Hi', '{{role "tool"}}: roles are system, user, model'),
        ('{{section "x"}}Hi', "{{section}} is not supported"),
        ("Hi {{#if x}}", "unclosed block"),  # Handlebars refuses it, and says why
    ],
)
def test_each_start_problem_names_the_file(tmp_path: Path, source: str, problem: str | None) -> None:
    write(tmp_path, broken=source)
    library, problems = load_templates(settings(tmp_path), explicit=True)
    if problem is None:
        assert problems == [] and len(library) == 1
        return
    assert len(problems) == 1, problems
    where, why = problems[0]
    assert where == f"{tmp_path}/broken.prompt" and problem in why, why


def test_bad_file_names_and_every_problem_at_once(tmp_path: Path) -> None:
    write(
        tmp_path, **{"fine": "Hi", "bad name": "Hi", "-x": "Hi", "two": "---\nmodel: nope\ntools: [url_context]\n---\n"}
    )
    problems = load_templates(settings(tmp_path), explicit=True)[1]
    named = sorted(Path(where).name for where, _ in problems)
    assert named == ["-x.prompt", "bad name.prompt", "two.prompt", "two.prompt"]


def test_policies_allow_the_tool_then_it_loads(tmp_path: Path) -> None:
    write(tmp_path, search="---\ntools: [google_search]\n---\nSearch {{q}}")
    library, problems = load_templates(settings(tmp_path, ALLOWED_TOOLS="google_search"), explicit=True)
    template = library.get("search")
    assert problems == [] and template is not None
    assert [t.builtin for t in template.fields["tools"]] == ["google_search"] and template.tools == ("google_search",)


def test_configuration_problems_include_the_templates(tmp_path: Path) -> None:
    write(tmp_path, broken="---\nmodel: gemini-1.0-pro\n---\nHi")
    env = {**ENV, "PROMPTS_DIR": str(tmp_path)}
    assert [Path(where).name for where, _ in configuration_problems(env)] == ["broken.prompt"]
    assert configuration_problems({**ENV, "PROMPTS_DIR": str(FIXTURES)}) == []


def test_read_templates_is_what_the_document_uses() -> None:
    templates, problems = read_templates(FIXTURES, "fixtures", 2000)
    assert problems == [] and {t.file for t in templates} == {
        f"fixtures/{n}.prompt" for n in ("chat", "profile", "triage")
    }


def test_each_template_is_its_own_documented_operation() -> None:
    import schemathesis

    doc: dict[str, Any] = build_openapi(FIXTURES)
    schemathesis.openapi.from_dict(doc).validate()
    triage = doc["paths"]["/v1/templates/triage"]["post"]
    assert triage["operationId"] == "runTemplate_triage" and "parameters" not in triage
    body = triage["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["inputs"] and "history" not in body["properties"]
    assert body["properties"]["inputs"]["properties"]["ticket"] == {
        "type": "string",
        "description": "the ticket",
        "maxLength": 2000,
    }
    answer = triage["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/TemplateResponse"}
    chat = doc["paths"]["/v1/templates/chat"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert chat["properties"]["history"]["items"] == {"$ref": "#/components/schemas/Message"}
    assert "/v1/templates/{id}" in doc["paths"] and "/v1/templates" in doc["paths"]
