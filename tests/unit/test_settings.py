"""gemini_gateway.settings: environment → Settings, problems named by variable (docs/API.md §2)."""

from __future__ import annotations

import pytest

from gemini_gateway.settings import ConfigError, Settings, load_settings

BASE: dict[str, str] = {
    "CLOUDFLARE_ACCOUNT_ID": "test-account",
    "AI_GATEWAY_ID": "test-gateway",
    "GEMINI_API_KEY": "test-gemini-key-1",
    "ALLOW_UNAUTHENTICATED": "true",
    "DEFAULT_MODEL": "gemini-2.5-flash",
}


def env(**changes: str | None) -> dict[str, str]:
    """BASE with `changes` applied; a None value removes the variable."""
    out = dict(BASE)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def load(**changes: str | None) -> Settings:
    return load_settings(env(**changes)).settings


def problems(**changes: str | None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(env(**changes))
    return info.value


def test_defaults() -> None:
    s = load(DEFAULT_MODEL=None)
    assert s.ai_gateway_base_url == "https://gateway.ai.cloudflare.com/v1"
    assert s.gemini_api_version == "v1beta"
    assert s.secret_cache_seconds == 300
    assert s.default_model == "gemini-3.8-flash"
    assert s.allowed_models == ("gemini-3.8-flash",)
    assert s.model_aliases == {} and s.allowed_tools == ()
    assert s.max_output_tokens_limit == 8192 and s.daily_token_budget == 0
    assert s.body_read_timeout_seconds == 10
    assert s.allowed_origins == ()
    assert s.max_request_bytes == 8388608
    assert s.upstream_timeout_seconds == 60
    assert s.upstream_max_attempts == 3
    assert s.gemini_api_key_secret is None
    assert s.gemini_api_key is not None and s.gemini_api_key.get_secret_value() == "test-gemini-key-1"
    assert s.upstream_base == "https://gateway.ai.cloudflare.com/v1/test-account/test-gateway/google-ai-studio/v1beta"


def test_key_is_not_in_repr() -> None:
    s = load()
    assert "test-gemini-key-1" not in repr(s)
    assert "test-gemini-key-1" not in str(s)


def test_settings_are_frozen() -> None:
    s = load()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen assignment
        s.default_model = "other"  # type: ignore[misc]


def test_base_url_trailing_slash_dropped_and_upstream_base() -> None:
    s = load(AI_GATEWAY_BASE_URL="http://127.0.0.1:8080/v1/", GEMINI_API_VERSION="v1")
    assert s.ai_gateway_base_url == "http://127.0.0.1:8080/v1"
    assert s.upstream_base == "http://127.0.0.1:8080/v1/test-account/test-gateway/google-ai-studio/v1"


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"CLOUDFLARE_ACCOUNT_ID": None}, "CLOUDFLARE_ACCOUNT_ID"),
        ({"AI_GATEWAY_ID": None}, "AI_GATEWAY_ID"),
        ({"CLOUDFLARE_ACCOUNT_ID": "a/b"}, "CLOUDFLARE_ACCOUNT_ID"),
        ({"AI_GATEWAY_ID": "  "}, "AI_GATEWAY_ID"),
        ({"AI_GATEWAY_BASE_URL": "ftp://example.test"}, "AI_GATEWAY_BASE_URL"),
        ({"AI_GATEWAY_BASE_URL": "not a url"}, "AI_GATEWAY_BASE_URL"),
        ({"GEMINI_API_VERSION": "v2"}, "GEMINI_API_VERSION"),
        ({"SECRET_CACHE_SECONDS": "-1"}, "SECRET_CACHE_SECONDS"),
        ({"SECRET_CACHE_SECONDS": "nan"}, "SECRET_CACHE_SECONDS"),
        ({"MAX_REQUEST_BYTES": "abc"}, "MAX_REQUEST_BYTES"),
        ({"MAX_REQUEST_BYTES": "10"}, "MAX_REQUEST_BYTES"),
        ({"UPSTREAM_TIMEOUT_SECONDS": "0"}, "UPSTREAM_TIMEOUT_SECONDS"),
        ({"UPSTREAM_TIMEOUT_SECONDS": "inf"}, "UPSTREAM_TIMEOUT_SECONDS"),
        ({"UPSTREAM_MAX_ATTEMPTS": "0"}, "UPSTREAM_MAX_ATTEMPTS"),
        ({"UPSTREAM_MAX_ATTEMPTS": "11"}, "UPSTREAM_MAX_ATTEMPTS"),
        ({"ALLOW_UNAUTHENTICATED": "maybe"}, "ALLOW_UNAUTHENTICATED"),
        ({"DEFAULT_MODEL": ""}, "DEFAULT_MODEL"),
        ({"ALLOWED_ORIGINS": "https://app.example/"}, "ALLOWED_ORIGINS"),
        ({"ALLOWED_ORIGINS": "app.example"}, "ALLOWED_ORIGINS"),
        ({"ALLOWED_ORIGINS": "https://app.example/path"}, "ALLOWED_ORIGINS"),
    ],
)
def test_invalid_values_name_their_variable(changes: dict[str, str | None], variable: str) -> None:
    error = problems(**changes)
    assert variable in error.variables
    assert f"{variable}:" in str(error)


def test_missing_required_says_required() -> None:
    error = problems(CLOUDFLARE_ACCOUNT_ID=None)
    assert error.problems == [("CLOUDFLARE_ACCOUNT_ID", "is required")]


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_gemini_key_or_secret_required(blank: str | None) -> None:
    error = problems(GEMINI_API_KEY=blank)
    assert error.variables == ["GEMINI_API_KEY_SECRET"]


@pytest.mark.parametrize(
    "name",
    [
        "projects/p/secrets/s/versions/latest",
        "projects/my-project/secrets/gemini-key/versions/1",
        "projects/123456/secrets/k/versions/42",
        "  projects/p/secrets/s/versions/7  ",
    ],
)
def test_secret_name_accepted(name: str) -> None:
    s = load(GEMINI_API_KEY=None, GEMINI_API_KEY_SECRET=name)
    assert s.gemini_api_key_secret == name.strip()


@pytest.mark.parametrize(
    "name",
    [
        "projects/p/secrets/s/versions/0",
        "projects/p/secrets/s/versions/01",
        "projects/p/secrets/s",
        "projects/p/secrets/s/versions/",
        "projects//secrets/s/versions/1",
        "secrets/s/versions/1",
        "projects/p/secrets/s/versions/newest",
        "projects/p/secrets/s/versions/1/extra",
    ],
)
@pytest.mark.parametrize("variable", ["GEMINI_API_KEY_SECRET", "AI_GATEWAY_TOKEN_SECRET", "CLIENT_API_KEYS_SECRET"])
def test_secret_name_format_refused(variable: str, name: str) -> None:
    error = problems(**{variable: name})
    assert variable in error.variables


def test_csv_lists_are_trimmed_and_skip_blanks() -> None:
    s = load(
        ALLOWED_MODELS=" gemini-2.5-flash , gemini-2.5-pro,, ",
        ALLOWED_ORIGINS="https://app.example, http://localhost:3000 ,",
    )
    assert s.allowed_models == ("gemini-2.5-flash", "gemini-2.5-pro")
    assert s.allowed_origins == ("https://app.example", "http://localhost:3000")


def test_blank_allowed_models_defaults_to_default_model() -> None:
    assert load(ALLOWED_MODELS=" , ").allowed_models == ("gemini-2.5-flash",)
    assert load(DEFAULT_MODEL="gemini-2.5-pro").allowed_models == ("gemini-2.5-pro",)


@pytest.mark.parametrize("origins", ["*", "https://a.example,*", "http://127.0.0.1:5173"])
def test_origins_accepted(origins: str) -> None:
    assert load(ALLOWED_ORIGINS=origins).allowed_origins == tuple(o.strip() for o in origins.split(","))


def test_allowed_models_must_include_default_model() -> None:
    error = problems(ALLOWED_MODELS="gemini-2.5-pro,gemini-2.0-flash")
    assert error.variables == ["ALLOWED_MODELS"]
    assert "DEFAULT_MODEL" in error.problems[0][1]
    s = load(ALLOWED_MODELS="gemini-2.5-pro,gemini-2.5-flash")
    assert s.allowed_models == ("gemini-2.5-pro", "gemini-2.5-flash")


@pytest.mark.parametrize("value", [None, "false", "0", "no"])
def test_no_caller_check_refused_unless_allow_unauthenticated(value: str | None) -> None:
    error = problems(ALLOW_UNAUTHENTICATED=value)
    assert error.variables == ["ALLOW_UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "changes",
    [
        {"CLIENT_API_KEYS": "ios:test-client-key-1"},
        {"CLIENT_API_KEYS_SECRET": "projects/p/secrets/client-keys/versions/latest"},
    ],
)
def test_a_caller_check_is_enough(changes: dict[str, str]) -> None:
    s = load(ALLOW_UNAUTHENTICATED=None, **changes)
    assert s.has_caller_check
    assert not s.allow_unauthenticated


def test_blank_client_keys_is_no_check() -> None:
    error = problems(ALLOW_UNAUTHENTICATED=None, CLIENT_API_KEYS="   ")
    assert error.variables == ["ALLOW_UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FIREBASE_PROJECT_ID", "my-firebase-app"),
        ("APP_CHECK_PROJECT_NUMBER", "123456789012"),
        ("WEBHOOK_SECRET_SECRET", "projects/p/secrets/webhook/versions/latest"),
        ("WEBHOOK_SECRET", "test-webhook-secret"),
    ],
)
def test_each_caller_check_counts(variable: str, value: str) -> None:
    s = load(ALLOW_UNAUTHENTICATED=None, **{variable: value})
    assert s.has_caller_check


def test_blank_caller_checks_are_ignored() -> None:
    error = problems(ALLOW_UNAUTHENTICATED=None, FIREBASE_PROJECT_ID="  ", WEBHOOK_SECRET=" ")
    assert error.variables == ["ALLOW_UNAUTHENTICATED"]


def test_caller_check_settings() -> None:
    s = load(
        APP_CHECK_PROJECT_NUMBER=" 123456789012 ",
        APP_CHECK_APP_IDS="1:123456789012:ios:abc, 1:123456789012:web:def",
        RATE_LIMIT_PER_MINUTE="60",
        RATE_LIMIT_BURST="10",
        REDIS_URL="redis://:test-redis-password@10.0.0.3:6379/0",
    )
    assert s.app_check_project_number == "123456789012"
    assert s.app_check_app_ids == ("1:123456789012:ios:abc", "1:123456789012:web:def")
    assert (s.rate_limit_per_minute, s.rate_limit_burst) == (60, 10)
    assert s.redis_url is not None and "test-redis-password" not in repr(s)
    assert s.firebase_certs_url.startswith("https://www.googleapis.com/robot/v1/metadata/x509/securetoken@")
    assert s.app_check_jwks_url == "https://firebaseappcheck.googleapis.com/v1/jwks"


def test_rate_limit_off_by_default_and_when_blank() -> None:
    assert load().rate_limit_per_minute == 0
    assert load(RATE_LIMIT_PER_MINUTE=" ").rate_limit_per_minute == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FIREBASE_PROJECT_ID", "Not A Project"),
        ("APP_CHECK_PROJECT_NUMBER", "my-project"),
        ("WEBHOOK_SECRET_SECRET", "webhook"),
        ("RATE_LIMIT_PER_MINUTE", "-1"),
        ("RATE_LIMIT_BURST", "0"),
        ("REDIS_URL", "http://10.0.0.3:6379"),
        ("FIREBASE_CERTS_URL", "ftp://certs"),
        ("APP_CHECK_JWKS_URL", "not a url"),
    ],
)
def test_caller_check_values_refused(variable: str, value: str) -> None:
    assert problems(**{variable: value}).variables == [variable]


def test_app_ids_need_the_project_number() -> None:
    assert problems(APP_CHECK_APP_IDS="1:2:ios:3").variables == ["APP_CHECK_APP_IDS"]


def test_several_problems_reported_together() -> None:
    error = problems(ALLOWED_MODELS="other-model", APP_CHECK_APP_IDS="1:2:ios:3", ALLOW_UNAUTHENTICATED="false")
    assert set(error.variables) == {"ALLOWED_MODELS", "APP_CHECK_APP_IDS", "ALLOW_UNAUTHENTICATED"}


def test_several_invalid_values_reported_together() -> None:
    error = problems(MAX_REQUEST_BYTES="abc", UPSTREAM_MAX_ATTEMPTS="0", GEMINI_API_KEY=None)
    assert set(error.variables) == {"MAX_REQUEST_BYTES", "UPSTREAM_MAX_ATTEMPTS", "GEMINI_API_KEY_SECRET"}


def test_invalid_value_and_rule_problems_reported_together() -> None:
    error = problems(CLOUDFLARE_ACCOUNT_ID=None, REDIS_URL="http://x", GEMINI_API_KEY=None)
    assert set(error.variables) == {"CLOUDFLARE_ACCOUNT_ID", "REDIS_URL", "GEMINI_API_KEY_SECRET"}


def test_config_error_message_never_quotes_secret_values() -> None:
    error = problems(GEMINI_API_KEY="test-gemini-key-1", MAX_REQUEST_BYTES="test-gemini-key-1")
    assert "test-gemini-key-1" not in str(error)


def test_warnings() -> None:
    loaded = load_settings(env(AI_GATEWAY_TOKEN="test-gateway-token-1"))
    text = " ".join(loaded.warnings)
    assert "GEMINI_API_KEY" in text
    assert "AI_GATEWAY_TOKEN" in text
    assert "ALLOW_UNAUTHENTICATED" in text
    assert "test-gemini-key-1" not in text and "test-gateway-token-1" not in text


def test_no_warnings_for_secret_manager_setup() -> None:
    loaded = load_settings(
        env(
            GEMINI_API_KEY=None,
            GEMINI_API_KEY_SECRET="projects/p/secrets/gemini/versions/latest",
            CLIENT_API_KEYS_SECRET="projects/p/secrets/clients/versions/3",
            ALLOW_UNAUTHENTICATED=None,
        )
    )
    assert loaded.warnings == []


def test_unknown_variables_ignored() -> None:
    load(PATH="/usr/bin", HOME="/root", SOMETHING_ELSE="x")


def test_model_aliases_and_derived_allowed_models() -> None:
    s = load(DEFAULT_MODEL=None, MODEL_ALIASES=" fast=gemini-3.5-flash-lite, gemini-2.5-flash=gemini-3.8-flash ,")
    assert s.model_aliases == {"fast": "gemini-3.5-flash-lite", "gemini-2.5-flash": "gemini-3.8-flash"}
    assert s.allowed_models == ("gemini-3.8-flash", "gemini-3.5-flash-lite")


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"MODEL_ALIASES": "fast"}, "MODEL_ALIASES"),
        ({"MODEL_ALIASES": "fast=a/b"}, "MODEL_ALIASES"),
        ({"MODEL_ALIASES": "a=gemini-3.8-flash,b=a"}, "MODEL_ALIASES"),
        ({"MODEL_ALIASES": "fast=gemini-3.5-flash-lite", "ALLOWED_MODELS": "gemini-2.5-flash"}, "ALLOWED_MODELS"),
        ({"ALLOWED_TOOLS": "google_search,web_browse"}, "ALLOWED_TOOLS"),
        ({"MAX_OUTPUT_TOKENS_LIMIT": "0"}, "MAX_OUTPUT_TOKENS_LIMIT"),
        ({"DAILY_TOKEN_BUDGET": "-1"}, "DAILY_TOKEN_BUDGET"),
        ({"BODY_READ_TIMEOUT_SECONDS": "0"}, "BODY_READ_TIMEOUT_SECONDS"),
    ],
)
def test_model_tool_and_spend_settings_refused(changes: dict[str, str], variable: str) -> None:
    assert variable in problems(**changes).variables


def test_every_problem_in_one_start() -> None:
    error = problems(CLOUDFLARE_ACCOUNT_ID=None, ALLOW_UNAUTHENTICATED=None, MAX_REQUEST_BYTES="x", GEMINI_API_KEY=None)
    assert set(error.variables) == {
        "CLOUDFLARE_ACCOUNT_ID",
        "ALLOW_UNAUTHENTICATED",
        "MAX_REQUEST_BYTES",
        "GEMINI_API_KEY_SECRET",
    }
