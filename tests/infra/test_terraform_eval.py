"""Real Terraform evaluation of variables.tf and the function's environment.

`terraform validate` needs the google provider (registry unreachable), but
variables, their validations and locals need no provider: this builds a
provider-less module from variables.tf plus the env/secret locals of
function.tf and secrets.tf, and runs `terraform plan/apply` on it (local
state in tmp_path, no network). Skipped where no terraform binary exists
(CI); the HCL-level tests cover the same rules there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import INFRA
from tests.infra.test_terraform import ALLOWED_ENV, _terraform_env_names

TERRAFORM = shutil.which("terraform")
pytestmark = pytest.mark.skipif(TERRAFORM is None, reason="terraform not installed: evaluation tests skipped")

REQUIRED = {
    "project_id": "my-project-1",
    "cloudflare_account_id": "0123456789abcdef0123456789abcdef",
    "ai_gateway_id": "my-gateway",
}


def _harness_main() -> str:
    fn = (INFRA / "function.tf").read_text(encoding="utf-8")
    sec = (INFRA / "secrets.tf").read_text(encoding="utf-8")
    fn_locals = fn[: fn.index('resource "google_cloudfunctions2_function"')]
    assert fn_locals.lstrip().startswith("locals {"), "function.tf must start with its locals block"
    # Attributes of resources, as the provider reports them. The managed
    # gateway's id is the configured id (cloudflare_ai_gateway.id = var.ai_gateway_id).
    for attribute, value in {
        "cloudflare_ai_gateway.this[0].id": '"managed-${var.ai_gateway_id}"',
        "google_cloud_tasks_queue.jobs[0].id": '"projects/${var.project_id}/locations/${var.region}/queues/${var.function_name}-jobs"',
        "google_service_account.jobs[0].email": (
            '"${coalesce(var.service_account_prefix, var.function_name)}-jobs@${var.project_id}.iam.gserviceaccount.com"'
        ),
    }.items():
        assert attribute in fn_locals, f"function.tf no longer uses {attribute}: update the harness"
        fn_locals = fn_locals.replace(attribute, value)
    m = re.search(r"^locals \{\n(?:.*\n)*?\}\n", sec, re.M)
    assert m and "secret_ids" in m.group(0), "secrets.tf must open with the secret_ids locals block"
    # Secret ids as the provider reports them: projects/P/secrets/S.
    sec_locals, n = re.subn(
        r"for k, s in google_secret_manager_secret\.this :\n(\s*)k => \"\$\{s\.id\}",
        r'for k, s in local.secret_ids :\n\1k => "projects/${var.project_id}/secrets/${s}',
        m.group(0),
    )
    assert n == 1, "secret_version_names no longer built from google_secret_manager_secret.this"
    return (
        fn_locals
        + "\n"
        + sec_locals
        + """
resource "terraform_data" "secret_version" {
  # the for_each expression of google_secret_manager_secret_version.this
  for_each = var.manage_secret_values ? local.operator_secret_ids : {}
}

output "env" {
  value = local.function_env
}

output "secret_ids" {
  value = local.secret_ids
}

output "secret_versions_created" {
  value = keys(terraform_data.secret_version)
}
"""
    )


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tf-harness")
    shutil.copy(INFRA / "variables.tf", d / "variables.tf")
    (d / "main.tf").write_text(_harness_main(), encoding="utf-8")
    return d


def _run(harness: Path, command: str, variables: dict, state: str = "") -> subprocess.CompletedProcess[str]:
    args = [TERRAFORM, command, "-input=false", "-no-color"]
    if command == "apply":
        args += ["-auto-approve", f"-state={harness / (state or 'terraform.tfstate')}"]
    for k, v in {**REQUIRED, **variables}.items():
        args += ["-var", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(args, cwd=harness, env=env, capture_output=True, text=True, timeout=60)


def _outputs(harness: Path, variables: dict, name: str) -> dict:
    res = _run(harness, "apply", variables, state=f"{name}.tfstate")
    assert res.returncode == 0, res.stdout + res.stderr
    out = subprocess.run(
        [TERRAFORM, "output", f"-state={harness / f'{name}.tfstate'}", "-json"],
        cwd=harness,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull},
        check=True,
    )
    return {k: v["value"] for k, v in json.loads(out.stdout).items()}


def _env(harness: Path, variables: dict, name: str) -> dict[str, str]:
    return _outputs(harness, variables, name)["env"]


def test_default_environment(harness):
    env = _env(harness, {}, "defaults")
    assert set(env) <= ALLOWED_ENV
    assert env["GEMINI_API_KEY_SECRET"] == "projects/my-project-1/secrets/gemini-gateway-gemini-api-key/versions/latest"
    # Private (IAM invoker only) with no in-code caller check: IAM is the
    # check, so a first deploy answers the identity-token curl of DEPLOY.md.
    assert env["ALLOW_UNAUTHENTICATED"] == "true"
    assert env["LOG_EXECUTION_ID"] == "true"
    assert env["GOOGLE_CLOUD_PROJECT"] == "my-project-1"
    assert env["AI_GATEWAY_ID"] == "my-gateway"
    assert env["DEFAULT_MODEL"] == "gemini-3.8-flash"
    # Unset optional settings leave the function's own defaults in force.
    for optional in (
        "AI_GATEWAY_BASE_URL",
        "ALLOWED_ORIGINS",
        "AI_GATEWAY_TOKEN_SECRET",
        "CLIENT_API_KEYS_SECRET",
        "REDIS_URL",
        "MODEL_ALIASES",
        "ALLOWED_MODELS",
        "ALLOWED_TOOLS",
        "MAX_OUTPUT_TOKENS_LIMIT",
        "DAILY_TOKEN_BUDGET",
        "CALLER_POLICIES_SECRET",
        "BODY_READ_TIMEOUT_SECONDS",
        "TRACES",
    ):
        assert optional not in env


def test_everything_enabled(harness):
    env = _env(
        harness,
        {
            "public": True,
            "enable_client_api_keys": True,
            "enable_webhook_secret": True,
            "ai_gateway_authenticated": True,
            "firebase_project_id": "my-firebase",
            "app_check_project_number": "123456789012",
            "app_check_app_ids": ["1:1:ios:a", "1:1:web:b"],
            "allowed_origins": ["https://app.example.com", "http://localhost:3000"],
            "model_aliases": {"gemini-2.5-flash": "gemini-3.8-flash", "fast": "gemini-3.5-flash-lite"},
            "allowed_models": ["gemini-3.8-flash", "gemini-3.5-flash-lite", "gemini-3.8-pro"],
            "allowed_tools": ["google_search", "url_context"],
            "max_output_tokens_limit": 4096,
            "daily_token_budget": 200000,
            "enable_caller_policies": True,
            "body_read_timeout_seconds": 5,
            "rate_limit_per_minute": 60,
            "rate_limit_burst": 10,
            "redis_url": "redis://10.0.0.3:6379",
            "ai_gateway_base_url": "https://gateway.example.com/v1",
            "secret_versions": {"gemini_api_key": "3"},
            "manage_secret_values": True,
            "app_check_consume": True,
            "safety_floor": {
                "HARM_CATEGORY_HARASSMENT": "BLOCK_MEDIUM_AND_ABOVE",
                "HARM_CATEGORY_HATE_SPEECH": "BLOCK_ONLY_HIGH",
            },
            "allowed_modalities": ["image"],
            "allowed_media_types": ["image/png", "audio/*", "application/pdf"],
            "allowed_agents": ["deep-research-pro-preview"],
            "prompts_dir": "prompts",
            "template_input_max_chars": 500,
            "idempotency_ttl_seconds": 3600,
            "enable_jobs_queue": True,
            "callback_url_prefixes": ["https://hooks.example.com/gemini/"],
            "callback_max_attempts": 5,
            "traces": "cloud_trace",
        },
        "all",
    )
    # Every name Terraform can pass, once each optional one is set.
    assert set(env) == set(_terraform_env_names())
    assert set(env) <= ALLOWED_ENV
    assert env["GEMINI_API_KEY_SECRET"].endswith("/secrets/gemini-gateway-gemini-api-key/versions/3")
    assert env["AI_GATEWAY_TOKEN_SECRET"].endswith("/secrets/gemini-gateway-ai-gateway-token/versions/latest")
    assert env["ALLOWED_MODELS"] == "gemini-3.8-flash,gemini-3.5-flash-lite,gemini-3.8-pro"
    # Key order (stable plans); resolved once, so no chains.
    assert env["MODEL_ALIASES"] == "fast=gemini-3.5-flash-lite,gemini-2.5-flash=gemini-3.8-flash"
    assert env["ALLOWED_TOOLS"] == "google_search,url_context"
    assert env["MAX_OUTPUT_TOKENS_LIMIT"] == "4096"
    assert env["DAILY_TOKEN_BUDGET"] == "200000"
    assert env["BODY_READ_TIMEOUT_SECONDS"] == "5"
    assert env["CALLER_POLICIES_SECRET"].endswith("/secrets/gemini-gateway-caller-policies/versions/latest")
    # Public with caller checks: never served without one.
    assert env["ALLOW_UNAUTHENTICATED"] == "false"
    assert env["ALLOWED_ORIGINS"] == "https://app.example.com,http://localhost:3000"
    assert env["APP_CHECK_APP_IDS"] == "1:1:ios:a,1:1:web:b"


@pytest.mark.parametrize(
    "check",
    [
        {"enable_client_api_keys": True},
        {"enable_webhook_secret": True},
        {"firebase_project_id": "my-firebase"},
        {"app_check_project_number": "123456789012"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_public_with_one_caller_check_plans(harness, check):
    res = _run(harness, "plan", {"public": True, **check})
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"public": True}, "public = true needs at least one caller check"),
        ({"public": True, "allow_unauthenticated": True}, "public = true needs at least one caller check"),
        ({"invoker_members": ["allUsers"]}, "invoker_members entries must be IAM members"),
        ({"allowed_models": ["gemini-3.8-pro"]}, "allowed_models must include default_model"),
        ({"allowed_models": ["gemini 3"]}, "allowed_models entries must be Gemini model ids"),
        (
            {"allowed_models": ["gemini-3.8-flash"], "model_aliases": {"fast": "gemini-3.5-flash-lite"}},
            "allowed_models must include every model_aliases target",
        ),
        ({"default_model": "Gemini 3"}, "default_model must be a Gemini model id"),
        ({"model_aliases": {"a=b": "gemini-3.8-flash"}}, "model_aliases names must be"),
        ({"model_aliases": {"fast": "gemini-3.8-flash,x"}}, "model_aliases names must be"),
        (
            {"model_aliases": {"fast": "smart", "smart": "gemini-3.8-flash"}},
            "targets must be models, not other aliases",
        ),
        ({"allowed_tools": ["web_search"]}, "allowed_tools entries must be"),
        ({"allowed_tools": ["url_context", "url_context"]}, "allowed_tools entries must be"),
        ({"max_output_tokens_limit": 0}, "max_output_tokens_limit must be a whole number from 1 to 65536"),
        ({"max_output_tokens_limit": 65537}, "max_output_tokens_limit must be a whole number from 1 to 65536"),
        ({"max_output_tokens_limit": 1.5}, "max_output_tokens_limit must be a whole number from 1 to 65536"),
        ({"daily_token_budget": -1}, "daily_token_budget must be a whole number >= 0"),
        ({"body_read_timeout_seconds": 0}, "body_read_timeout_seconds must be from 1 to 300"),
        (
            {"body_read_timeout_seconds": 120, "timeout_seconds": 60, "upstream_timeout_seconds": 30},
            "body_read_timeout_seconds must be from 1 to 300 and <= timeout_seconds",
        ),
        (
            {"public": True, "enable_client_api_keys": True, "allow_unauthenticated": True},
            "allow_unauthenticated = true is only for a private function",
        ),
        ({"secret_versions": {"caller_policy": "1"}}, "secret_versions keys must be"),
        ({"allowed_origins": ["https://app.example.com/"]}, "allowed_origins entries must be"),
        ({"function_name": "Gemini"}, "function_name must be 1-63 characters"),
        ({"function_name": "a-very-long-function-name-for-ids"}, "Service account ids are 6-30 characters"),
        ({"max_instance_request_concurrency": 1001}, "max_instance_request_concurrency must be"),
        ({"timeout_seconds": 3601}, "timeout_seconds must be"),
        ({"upstream_timeout_seconds": 400}, "upstream_timeout_seconds must be > 0 and <= timeout_seconds"),
        ({"ingress_settings": "ALL"}, "ingress_settings must be"),
        ({"runtime": "python311"}, "runtime must be python312 or python313"),
        ({"available_memory": "512"}, "available_memory must be"),
        ({"region": "us-central1-a"}, "region must look like"),
        ({"secret_versions": {"gemini": "1"}}, "secret_versions keys must be"),
    ],
    ids=lambda x: x if isinstance(x, str) else json.dumps(x)[:40],
)
def test_invalid_values_fail_at_plan_time(harness, variables, message):
    res = _run(harness, "plan", variables)
    assert res.returncode != 0
    assert message in " ".join((res.stdout + res.stderr).split())


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "true"),  # private, no in-code check: IAM is the check
        ({"allow_unauthenticated": False}, "false"),  # the operator insists on an in-code check
        ({"enable_client_api_keys": True}, "false"),
        ({"firebase_project_id": "my-firebase"}, "false"),
        ({"public": True, "enable_webhook_secret": True}, "false"),
        ({"public": True, "app_check_project_number": "123456789012"}, "false"),
    ],
    ids=lambda x: json.dumps(x)[:40],
)
def test_allow_unauthenticated_follows_the_private_default(harness, variables, expected):
    env = _env(harness, variables, "anon-" + re.sub(r"\W+", "-", json.dumps(variables)))
    assert env["ALLOW_UNAUTHENTICATED"] == expected


@pytest.mark.parametrize(
    ("variables", "authenticated"),
    [
        ({}, False),  # an existing gateway: the operator says
        ({"ai_gateway_authenticated": True}, True),
        ({"manage_cloudflare_gateway": True}, True),  # a gateway we create is closed by default
        ({"manage_cloudflare_gateway": True, "ai_gateway_authenticated": False}, False),
    ],
    ids=lambda x: json.dumps(x)[:40],
)
def test_gateway_token_follows_gateway_authentication(harness, variables, authenticated):
    out = _outputs(
        harness, {**variables, "manage_secret_values": True}, "gw-" + re.sub(r"\W+", "-", json.dumps(variables))
    )
    assert ("AI_GATEWAY_TOKEN_SECRET" in out["env"]) is authenticated
    assert ("ai_gateway_token" in out["secret_ids"]) is authenticated
    assert ("ai_gateway_token" in out["secret_versions_created"]) is authenticated
    if authenticated:
        assert out["env"]["AI_GATEWAY_TOKEN_SECRET"].endswith(
            "/secrets/gemini-gateway-ai-gateway-token/versions/latest"
        )


def test_caller_policies_secret_is_created_like_the_others(harness):
    out = _outputs(
        harness,
        {"enable_caller_policies": True, "manage_secret_values": True, "secret_versions": {"caller_policies": "2"}},
        "policies",
    )
    assert out["secret_ids"]["caller_policies"] == "gemini-gateway-caller-policies"
    assert "caller_policies" in out["secret_versions_created"]
    assert out["env"]["CALLER_POLICIES_SECRET"] == (
        "projects/my-project-1/secrets/gemini-gateway-caller-policies/versions/2"
    )
    assert "CALLER_POLICIES" not in out["env"]


def test_the_tfvars_example_plans(harness):
    """terraform.tfvars.example as shipped: valid, private, served through IAM."""
    shutil.copy(INFRA / "terraform.tfvars.example", harness / "example.tfvars")
    res = subprocess.run(
        [
            TERRAFORM,
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            "-var-file=example.tfvars",
            f"-state={harness / 'example.tfstate'}",
        ],
        cwd=harness,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = subprocess.run(
        [TERRAFORM, "output", f"-state={harness / 'example.tfstate'}", "-json", "env"],
        cwd=harness,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull},
        check=True,
    )
    env = json.loads(out.stdout)
    assert env["DEFAULT_MODEL"] == "gemini-3.8-flash"
    assert env["ALLOW_UNAUTHENTICATED"] == "true"


# --- App Check consumption, generated keys, jobs, callbacks -----------------------------------------------


def test_tool_id_key_is_always_generated_not_filled_in(harness):
    out = _outputs(harness, {"manage_secret_values": True}, "tool-id-key")
    assert (
        out["env"]["TOOL_ID_KEY_SECRET"] == "projects/my-project-1/secrets/gemini-gateway-tool-id-key/versions/latest"
    )
    assert out["secret_ids"]["tool_id_key"] == "gemini-gateway-tool-id-key"
    # Terraform writes it from random bytes itself: no operator value, no *_value variable.
    assert "tool_id_key" not in out["secret_versions_created"]


def test_jobs_wiring(harness):
    env = _env(harness, {"enable_jobs_queue": True, "redis_url": "redis://10.0.0.3:6379"}, "jobs")
    assert env["JOBS_QUEUE"] == "projects/my-project-1/locations/us-central1/queues/gemini-gateway-jobs"
    assert env["JOBS_SERVICE_ACCOUNT"] == "gemini-gateway-jobs@my-project-1.iam.gserviceaccount.com"
    # The function's deterministic URL: known before the function exists.
    assert env["JOBS_URL"] == "https://us-central1-my-project-1.cloudfunctions.net/gemini-gateway"
    assert env["REDIS_URL"] == "redis://10.0.0.3:6379"
    custom = _env(
        harness,
        {
            "enable_jobs_queue": True,
            "redis_url": "redis://10.0.0.3:6379",
            "jobs_url": "https://gemini-gateway-123456789012.us-central1.run.app",
        },
        "jobs-url",
    )
    assert custom["JOBS_URL"] == "https://gemini-gateway-123456789012.us-central1.run.app"
    assert "JOBS_QUEUE" not in _env(harness, {"redis_url": "redis://10.0.0.3:6379"}, "no-jobs")


def test_callbacks_bring_their_signing_secret(harness):
    out = _outputs(
        harness,
        {
            "callback_url_prefixes": ["https://hooks.example.com/a/", "https://b.example.com/"],
            "manage_secret_values": True,
        },
        "callbacks",
    )
    env = out["env"]
    assert env["CALLBACK_URL_PREFIXES"] == "https://hooks.example.com/a/,https://b.example.com/"
    assert env["CALLBACK_SIGNING_SECRET_SECRET"] == (
        "projects/my-project-1/secrets/gemini-gateway-callback-signing-secret/versions/latest"
    )
    assert "callback_signing_secret" in out["secret_versions_created"]
    assert "CALLBACK_SIGNING_SECRET" not in env
    assert "CALLBACK_SIGNING_SECRET_SECRET" not in _env(harness, {}, "no-callbacks")


def test_free_form_controls_are_passed_as_the_function_reads_them(harness):
    env = _env(
        harness,
        {
            "safety_floor": {
                "HARM_CATEGORY_HATE_SPEECH": "BLOCK_ONLY_HIGH",
                "HARM_CATEGORY_HARASSMENT": "BLOCK_LOW_AND_ABOVE",
            },
            "allowed_modalities": ["image", "audio"],
            "allowed_media_types": ["image/png", "audio/*"],
            "allowed_agents": ["deep-research-pro-preview"],
            "template_input_max_chars": 500,
        },
        "free-form",
    )
    # Key order: stable plans.
    assert (
        env["SAFETY_FLOOR"] == "HARM_CATEGORY_HARASSMENT=BLOCK_LOW_AND_ABOVE,HARM_CATEGORY_HATE_SPEECH=BLOCK_ONLY_HIGH"
    )
    assert env["ALLOWED_MODALITIES"] == "image,audio"
    assert env["ALLOWED_MEDIA_TYPES"] == "image/png,audio/*"
    assert env["ALLOWED_AGENTS"] == "deep-research-pro-preview"
    assert env["TEMPLATE_INPUT_MAX_CHARS"] == "500"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"app_check_consume": True}, "app_check_consume = true needs app_check_project_number"),
        ({"enable_jobs_queue": True}, "enable_jobs_queue = true needs redis_url"),
        ({"jobs_url": "http://example.com"}, "jobs_url must be an https:// URL"),
        ({"jobs_url": "https://example.com/"}, "jobs_url must be an https:// URL"),
        ({"jobs_queue": {"max_attempts": 0}}, "jobs_queue: max_attempts 1-100"),
        ({"jobs_queue": {"min_backoff_seconds": 700}}, "jobs_queue: max_attempts 1-100"),
        ({"callback_url_prefixes": ["http://hooks.example.com/"]}, "callback_url_prefixes entries must be https://"),
        (
            {"callback_url_prefixes": ["https://a.example.com/,https://b"]},
            "callback_url_prefixes entries must be https://",
        ),
        ({"callback_max_attempts": 0}, "callback_max_attempts must be a whole number from 1 to 20"),
        ({"idempotency_ttl_seconds": 0}, "idempotency_ttl_seconds must be a whole number"),
        ({"safety_floor": {"HARASSMENT": "BLOCK_NONE"}}, "safety_floor keys must be harm categories"),
        ({"safety_floor": {"HARM_CATEGORY_HARASSMENT": "LOW"}}, "safety_floor keys must be harm categories"),
        ({"allowed_modalities": ["video"]}, "allowed_modalities entries must be text, image or audio"),
        ({"allowed_media_types": ["image/png,image/gif"]}, "allowed_media_types entries must be media types"),
        ({"allowed_agents": ["deep research"]}, "allowed_agents entries must be agent names"),
        ({"prompts_dir": "../etc"}, "prompts_dir must be a relative path"),
        ({"prompts_dir": "/prompts"}, "prompts_dir must be a relative path"),
        ({"template_input_max_chars": 0}, "template_input_max_chars must be a whole number"),
        ({"tool_id_key_version": 0}, "tool_id_key_version must be a whole number >= 1"),
        ({"notification_channels": ["1234"]}, "notification_channels entries must be channel ids"),
        ({"alert_5xx_ratio": 0}, "alert_5xx_ratio must be above 0 and at most 1"),
        ({"alert_5xx_ratio": 5}, "alert_5xx_ratio must be above 0 and at most 1"),
        ({"alert_5xx_min_requests": 0}, "alert_5xx_min_requests must be a whole number >= 1"),
        (
            {"alert_upstream_latency_p95_ms": 61000, "upstream_timeout_seconds": 60},
            "alert_upstream_latency_p95_ms must be above 0 and at most upstream_timeout_seconds * 1000",
        ),
        ({"alert_budget_refusals_per_hour": -1}, "alert_budget_refusals_per_hour must be a whole number >= 0"),
        ({"secret_versions": {"tool_id": "1"}}, "secret_versions keys must be"),
        ({"traces": "cloudtrace"}, 'traces must be "off", "cloud_trace" or "console"'),
    ],
    ids=lambda x: x if isinstance(x, str) else json.dumps(x)[:40],
)
def test_new_invalid_values_fail_at_plan_time(harness, variables, message):
    res = _run(harness, "plan", variables)
    assert res.returncode != 0
    assert message in " ".join((res.stdout + res.stderr).split())


def test_new_valid_values_plan(harness):
    res = _run(
        harness,
        "plan",
        {
            "app_check_project_number": "123456789012",
            "app_check_consume": True,
            "app_check_project_id": "my-firebase-1",
            "enable_jobs_queue": True,
            "redis_url": "rediss://10.0.0.3:6378",
            "jobs_queue": {"max_attempts": 3, "max_retry_duration_seconds": 1800},
            "notification_channels": ["projects/my-project-1/notificationChannels/1234567890"],
            "alert_5xx_ratio": 0.1,
            "alert_upstream_latency_p95_ms": 60000,
            "prompts_dir": "config/prompts",
            "secret_versions": {"tool_id_key": "2", "callback_signing_secret": "latest"},
        },
    )
    assert res.returncode == 0, res.stdout + res.stderr
