"""The templates of PROMPTS_DIR, each loaded and checked once, at start.

`load_templates` reads every `<id>.prompt` file (and `_<name>.prompt`
partials), has Dotprompt parse and compile it, and checks what a caller
could not fix: the frontmatter's keys, the model (through MODEL_ALIASES, in
ALLOWED_MODELS), built-in tools (ALLOWED_TOOLS), `config` (the sampling
fields of `POST /`, in Gemini's names, within MAX_OUTPUT_TOKENS_LIMIT), the
output format and the input schema. Each problem names its file; the start
refuses them all in one log line (runtime.py).

Nothing heavy is imported here: Dotprompt and jsonschema are imported by
`load_templates` only when the directory holds a template, so a deployment
without templates never pays for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings
    from .dotprompt import Parsed
    from .inputs import InputSchema

__all__ = ["EMPTY", "TEMPLATE_ID_PATTERN", "Library", "Template", "load_templates", "read_templates"]

TEMPLATE_ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"  # as policies' `allowed_templates` name them
TEMPLATE_ID = re.compile(f"^{TEMPLATE_ID_PATTERN}$")
_MAX_FILE_BYTES = 256 * 1024
_HISTORY = re.compile(r"\{\{~?\s*history\s*~?\}\}")
_SECTION = re.compile(r"\{\{~?\s*section\b")
_ROLE_LITERAL = re.compile(r"""\{\{~?\s*role\s+["']([^"']*)["']""")
_ROLES = ("system", "user", "model")
_FRONTMATTER = {"model", "config", "input", "output", "tools", "description", "name", "version", "variant"}
_INPUT_KEYS = {"schema", "default"}
_OUTPUT_KEYS = {"format", "schema"}
# Gemini's generationConfig names (as Firebase AI Logic templates write them) → the fields of `POST /`.
_CONFIG = {
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "maxOutputTokens": "max_output_tokens",
    "stopSequences": "stop",
    "seed": "seed",
}
_THINKING = {"thinkingBudget": "thinking_budget", "thinkingLevel": "thinking_level"}
_MODEL_PREFIX = "googleai/"  # Genkit's provider prefix: the same model


@dataclass(frozen=True, eq=False)
class Template:
    """One template, as callers use it: its id, what it fixes, what it takes."""

    id: str
    file: str  # as problems and logs name it: PROMPTS_DIR/<id>.prompt
    description: str | None
    model: str | None  # as written (an alias is resolved per request, like POST /); None: DEFAULT_MODEL
    tools: tuple[str, ...]  # built-in tools
    fields: Mapping[str, Any]  # the `POST /` fields it fixes (sampling, tools, response_format), validated
    uses_history: bool
    inputs: InputSchema
    source: Parsed

    @property
    def wants_json(self) -> bool:
        fmt = self.fields.get("response_format")
        return fmt is not None and fmt.type == "json"

    @property
    def max_output_tokens(self) -> int | None:
        value = self.fields.get("max_output_tokens")
        return value if isinstance(value, int) else None

    def info(self) -> dict[str, Any]:
        """What `GET /v1/templates` says about it."""
        return {
            "id": self.id,
            "description": self.description,
            "output": "json" if self.wants_json else "text",
            "history": self.uses_history,
            "input_schema": self.inputs.schema,
        }


@dataclass(frozen=True)
class Library:
    """The templates this process serves, by id."""

    templates: Mapping[str, Template] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.templates)

    def get(self, template_id: str) -> Template | None:
        return self.templates.get(template_id)

    def visible(self, allowed: tuple[str, ...] | None) -> list[Template]:
        """The templates a caller may use (its policy's `allowed_templates`; None: all), by id."""
        return [t for i, t in sorted(self.templates.items()) if allowed is None or i in allowed]


EMPTY = Library()
Problems = list[tuple[str, str]]


def template_files(directory: Path) -> list[Path]:
    """The `.prompt` files of `directory` (none if it is not one), in name order; cheap: no import, no read."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == ".prompt" and p.is_file())


def read_templates(directory: Path, shown: str, max_chars: int) -> tuple[list[Template], Problems]:
    """Every template of `directory`, parsed and compiled, its inputs made strict; problems name the file."""
    files = template_files(directory)
    if not files:
        return [], []
    from .dotprompt import parse  # heavy: only with templates

    problems: Problems = []
    sources: dict[str, tuple[str, str]] = {}
    partials: dict[str, str] = {}
    for path in files:
        name = f"{shown.rstrip('/')}/{path.name}"
        try:
            if path.stat().st_size > _MAX_FILE_BYTES:
                raise ValueError(f"larger than {_MAX_FILE_BYTES // 1024} KiB")
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            problems.append((name, f"cannot be read: {exc}"))
            continue
        if path.stem.startswith("_"):
            partials[path.stem[1:]] = text
        elif not TEMPLATE_ID.match(path.stem):
            problems.append((name, "the file name is not a template id (letters, digits, _ . -; at most 128)"))
        else:
            sources[path.stem] = (name, text)
    templates = []
    for template_id, (name, text) in sources.items():
        try:
            templates.append(_template(template_id, name, parse(text, name, partials), max_chars))
        except ValueError as exc:
            problems.append((name, str(exc)))
    return templates, problems


def load_templates(settings: Settings, *, explicit: bool) -> tuple[Library, Problems]:
    """The library for `settings` (PROMPTS_DIR, TEMPLATE_INPUT_MAX_CHARS) and every static problem found.

    `explicit`: PROMPTS_DIR was set, so a directory that is not there is a
    problem (the default `prompts` may be absent: no templates).
    """
    directory = Path(settings.prompts_dir)
    if explicit and not directory.is_dir():
        return EMPTY, [("PROMPTS_DIR", f"{settings.prompts_dir} is not a directory")]
    templates, problems = read_templates(directory, settings.prompts_dir, settings.template_input_max_chars)
    for template in templates:
        problems += [(template.file, why) for why in check(template, settings)]
    return Library({t.id: t for t in templates}), problems


def check(template: Template, settings: Settings) -> list[str]:
    """What the deployment's settings refuse in `template`: its model, built-in tools, output ceiling."""
    problems = []
    model = template.model or settings.default_model
    resolved = settings.model_aliases.get(model, model)
    if resolved not in settings.allowed_models:
        problems.append(f"model {model} is not allowed (ALLOWED_MODELS: {', '.join(settings.allowed_models)})")
    for tool in template.tools:
        if tool not in settings.allowed_tools:
            allowed = ", ".join(settings.allowed_tools) or "none"
            problems.append(f"tools: the built-in tool {tool} is not allowed (ALLOWED_TOOLS: {allowed})")
    ceiling = template.max_output_tokens
    if ceiling is not None and ceiling > settings.max_output_tokens_limit:
        problems.append(f"config.maxOutputTokens: must be <= {settings.max_output_tokens_limit}")
    return problems


def _template(template_id: str, name: str, parsed: Parsed, max_chars: int) -> Template:
    """The template `parsed` describes; ValueError naming the first thing it says that cannot be served."""
    from ..chat.models import GenerateRequest
    from ..config_types import BUILTIN_TOOLS
    from ..json_body import validate
    from .inputs import InputSchema

    _known_keys(parsed.frontmatter)
    for role in _ROLE_LITERAL.findall(parsed.template):
        if role not in _ROLES:
            raise ValueError(f'{{{{role "{role}"}}}}: roles are {", ".join(_ROLES)}')
    if _SECTION.search(parsed.template):
        raise ValueError("{{section}} is not supported")
    for tool in parsed.tools:
        if tool not in BUILTIN_TOOLS:
            raise ValueError(
                f"tools: {tool} is not a built-in tool ({', '.join(BUILTIN_TOOLS)}); templates call no functions"
            )
    fields: dict[str, Any] = _config_fields(parsed.config)
    if parsed.tools:
        fields["tools"] = [{"builtin": tool} for tool in parsed.tools]
    if parsed.output_format not in (None, "text", "json"):
        raise ValueError(f"output.format: {parsed.output_format} is not one of text, json")
    if parsed.output_format == "json" or parsed.output_schema is not None:
        fields["response_format"] = {
            "type": "json",
            **({"schema": parsed.output_schema} if parsed.output_schema else {}),
        }
    try:
        checked = validate(GenerateRequest, {"prompt": "check", **fields})  # ranges and sizes, as POST / checks them
    except Exception as exc:  # noqa: BLE001 - InvalidRequest naming the field, in POST / terms
        raise ValueError(f"config: {getattr(exc, 'message', exc)}") from None
    fields = {name: getattr(checked, name) for name in fields}  # validated once: per request they pass as they are
    inputs = InputSchema(parsed.input_schema, max_chars)
    if parsed.input_default:
        for problem in inputs.problems(parsed.input_default):
            if problem.problem != "required":
                raise ValueError(f"input.default: {problem.field.removeprefix('inputs.')}: {problem.problem}")
    model = parsed.model.removeprefix(_MODEL_PREFIX) if parsed.model else None
    return Template(
        id=template_id,
        file=name,
        description=parsed.description,
        model=model,
        tools=parsed.tools,
        fields=fields,
        uses_history=bool(_HISTORY.search(parsed.template)),
        inputs=inputs,
        source=parsed,
    )


def _known_keys(frontmatter: Mapping[str, Any]) -> None:
    for key, value in frontmatter.items():
        if key not in _FRONTMATTER and "." not in key:
            raise ValueError(f"{key}: not a frontmatter key this function uses ({', '.join(sorted(_FRONTMATTER))})")
        allowed = {"input": _INPUT_KEYS, "output": _OUTPUT_KEYS}.get(key)
        if allowed is not None and isinstance(value, dict):
            for inner in value:
                if inner not in allowed:
                    raise ValueError(f"{key}.{inner}: unknown (expected {', '.join(sorted(allowed))})")


def _config_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in config.items():
        if key in _CONFIG:
            fields[_CONFIG[key]] = value
        elif key == "thinkingConfig" and isinstance(value, dict):
            for inner, setting in value.items():
                if inner not in _THINKING:
                    raise ValueError(f"config.thinkingConfig.{inner}: unknown (expected {', '.join(_THINKING)})")
                fields[_THINKING[inner]] = setting.lower() if isinstance(setting, str) else setting
        else:
            known = ", ".join([*_CONFIG, "thinkingConfig"])
            raise ValueError(f"config.{key}: not a setting a template may fix ({known})")
    return fields
