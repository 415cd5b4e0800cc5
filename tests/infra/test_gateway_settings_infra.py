"""infra/: models, tools, spend control, first-deploy gate, gateway authentication,
cold-start settings and the deploy guide (README, Configuration).

Checked over the parsed HCL, so they run where no terraform binary exists;
test_terraform_eval.py evaluates the same rules with a real `terraform plan`.
"""

from __future__ import annotations

import itertools
import re

import pytest

from tests.infra.conftest import INFRA, hcl_regexes, parse_file, single
from tests.infra.test_terraform import _caller_check_combinations, _env_keys, eval_condition

CURRENT_MODELS = ("gemini-3.8-flash", "gemini-3.5-flash-lite")
# Retired (or retiring) generations: never a default, an allowed model or an alias target.
RETIRED_MODEL = re.compile(r"^gemini-(1\.|2\.0|2\.5)")
TOOLS = ("google_search", "url_context", "code_execution")
POLICY_KEYS = (
    "rate_limit_per_minute",
    "rate_limit_burst",
    "daily_token_budget",
    "allowed_models",
    "allowed_tools",
    "max_output_tokens",
)
DEPLOY = (INFRA / "DEPLOY.md").read_text(encoding="utf-8")

# Arguments of google_cloudfunctions2_function's service_config in the google
# provider's schema (7.46.1, as extracted into infra/validate). There is no
# startup CPU boost among them: that is google_cloud_run_v2_service's
# template.containers.resources.startup_cpu_boost, a different resource.
SERVICE_CONFIG_ARGUMENTS = {
    "timeout_seconds",
    "available_memory",
    "max_instance_request_concurrency",
    "available_cpu",
    "environment_variables",
    "max_instance_count",
    "min_instance_count",
    "vpc_connector",
    "vpc_connector_egress_settings",
    "ingress_settings",
    "service_account_email",
    "all_traffic_on_latest_revision",
    "secret_environment_variables",
    "secret_volumes",
    "binary_authorization_policy",
    "direct_vpc_egress",
    "direct_vpc_network_interface",
}


def eval_expr(expr: str, var: dict, local: dict | None = None) -> bool:
    """eval_condition plus one level of `cond ? a : b` (the derived-default locals)."""
    expr = expr.strip()
    if expr.startswith("${") and expr.endswith("}"):
        expr = expr[2:-1].strip()
    if expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1].strip()
    m = re.fullmatch(r"(.+?) \? (.+?) : (.+)", expr, re.S)
    if not m:
        return eval_condition(expr, var, local)
    cond, yes, no = m.groups()
    return eval_condition(yes if eval_condition(cond, var, local) else no, var, local)


def _validations(config, name: str) -> list[dict]:
    return config.variables[name]["validation"]


# --- models ------------------------------------------------------------------------


def test_default_model_is_a_current_stable_model(config):
    v = config.variables["default_model"]
    assert v["default"] == "gemini-3.8-flash"
    (rx,) = hcl_regexes(_validations(config, "default_model")[0]["condition"])
    for ok in CURRENT_MODELS:
        assert re.search(rx, ok)
    for bad in ("Gemini-3.8-Flash", "models/gemini-3.8-flash", "a,b", "fast=gemini-3.8-flash", ""):
        assert not re.search(rx, bad), bad


def test_model_aliases_are_validated_and_passed_only_when_set(config):
    v = config.variables["model_aliases"]
    assert v["type"] == "${map(string)}" and v["default"] == {}
    name_rx, model_rx = hcl_regexes(_validations(config, "model_aliases")[0]["condition"])
    for ok in ("fast", "smart", "gemini-2.5-flash", "gemini_pro.v2"):
        assert re.search(name_rx, ok), ok
    for bad in ("fa st", "a=b", "a,b", "models/x", "gemini:generateContent", "-x", "x" * 65):
        assert not re.search(name_rx, bad), bad
    for ok in CURRENT_MODELS:
        assert re.search(model_rx, ok)
    for bad in ("Fast", "a b", "a,b", "a=b"):
        assert not re.search(model_rx, bad), bad
    chain = _validations(config, "model_aliases")[1]["condition"]
    assert "!contains(keys(var.model_aliases), model)" in chain
    assert config.locals["model_aliases"] == '${join(",", [for name, model in var.model_aliases : "${name}=${model}"])}'
    assert "length(var.model_aliases) > 0 ? {MODEL_ALIASES = local.model_aliases}" in config.locals["function_env"]


def test_allowed_models_default_lets_the_function_derive_them(config):
    assert config.variables["allowed_models"]["default"] == []
    conds = [x["condition"] for x in _validations(config, "allowed_models")]
    assert "length(var.allowed_models) == 0 || contains(var.allowed_models, var.default_model)" in conds[1]
    assert "length(var.allowed_models) == 0 ||" in conds[2] and "values(var.model_aliases)" in conds[2]
    env = config.locals["function_env"]
    # Set only from a non-empty list: never ALLOWED_MODELS="" (which would allow nothing).
    assert env.count("ALLOWED_MODELS") == 1
    assert 'length(var.allowed_models) > 0 ? {ALLOWED_MODELS = join(",", var.allowed_models)}' in env


def test_allowed_tools_are_the_three_builtins(config):
    v = config.variables["allowed_tools"]
    assert v["default"] == []
    cond = _validations(config, "allowed_tools")[0]["condition"]
    assert 'contains(["google_search", "url_context", "code_execution"], t)' in cond
    assert "distinct(var.allowed_tools)" in cond
    assert (
        'length(var.allowed_tools) > 0 ? {ALLOWED_TOOLS = join(",", var.allowed_tools)}'
        in config.locals["function_env"]
    )


def test_no_retired_model_in_defaults_or_the_example(config):
    v = config.variables
    assert not RETIRED_MODEL.match(v["default_model"]["default"])
    for m in v["allowed_models"]["default"]:
        assert not RETIRED_MODEL.match(m)
    example = parse_file(INFRA / "terraform.tfvars.example")
    assert example["default_model"] in CURRENT_MODELS
    for m in example.get("allowed_models", []):
        assert not RETIRED_MODEL.match(m), m
    for name, target in example.get("model_aliases", {}).items():
        # A retired name may be an alias NAME (old app versions), never a target.
        assert not RETIRED_MODEL.match(target), (name, target)


# --- spend control --------------------------------------------------------------------


def test_spend_control_variables(config):
    v = config.variables
    assert v["max_output_tokens_limit"]["default"] is None
    cond = _validations(config, "max_output_tokens_limit")[0]["condition"]
    assert "var.max_output_tokens_limit >= 1" in cond and "var.max_output_tokens_limit <= 65536" in cond
    assert "floor(var.max_output_tokens_limit)" in cond
    assert v["daily_token_budget"]["default"] == 0
    assert "var.daily_token_budget >= 0" in _validations(config, "daily_token_budget")[0]["condition"]
    assert v["enable_caller_policies"]["default"] is False
    assert v["body_read_timeout_seconds"]["default"] is None
    cond = _validations(config, "body_read_timeout_seconds")[0]["condition"]
    assert "var.body_read_timeout_seconds <= var.timeout_seconds" in cond
    env = config.locals["function_env"]
    assert "MAX_OUTPUT_TOKENS_LIMIT = tostring(var.max_output_tokens_limit)" in env
    assert "DAILY_TOKEN_BUDGET = tostring(var.daily_token_budget)" in env
    assert "BODY_READ_TIMEOUT_SECONDS = tostring(var.body_read_timeout_seconds)" in env


def test_caller_policies_secret_follows_the_optional_secret_pattern(config):
    ids = config.locals["operator_secret_ids"]
    assert 'var.enable_caller_policies ? {caller_policies = "${var.function_name}-caller-policies"} : {}' in ids
    assert (
        'var.enable_caller_policies ? {CALLER_POLICIES_SECRET = local.secret_version_names["caller_policies"]} : {}'
        in config.locals["function_env"]
    )
    # The literal document is local development only.
    assert "CALLER_POLICIES" not in _env_keys(config)
    # Optional write-only value, like the other secrets: ephemeral + sensitive.
    values = single(config.parsed["secrets.tf"]["locals"][1:])["secret_values"]
    assert values["caller_policies"] == "${var.caller_policies_value}"
    value_var = config.variables["caller_policies_value"]
    assert value_var["ephemeral"] is True and value_var["sensitive"] is True and value_var["default"] is None
    # Versions can be pinned like the others.
    assert '"caller_policies"' in _validations(config, "secret_versions")[0]["condition"]
    # The accessor grant is per secret, for the runtime identity only (for_each over every secret).
    grant = config.resource("google_secret_manager_secret_iam_member", "runtime_access").body
    assert grant["for_each"] == "${google_secret_manager_secret.this}"


# --- first deploy: who may call a private function ------------------------------------------


def test_allow_unauthenticated_derives_from_private_and_no_caller_check(config):
    assert config.variables["allow_unauthenticated"]["default"] is None
    expr = config.locals["allow_unauthenticated"]
    (guard,) = [x["condition"] for x in _validations(config, "allow_unauthenticated")]
    for checks, public, explicit in itertools.product(_caller_check_combinations(), (False, True), (None, False, True)):
        var = {"public": public, "allow_unauthenticated": explicit, **checks}
        configured = eval_condition(config.locals["caller_check_configured"], checks)
        effective = eval_expr(expr, var, {"caller_check_configured": configured})
        if explicit is not None:
            assert effective is explicit
        else:
            assert effective is (not public and not configured), var
        # A public function never serves without an in-code check: explicit true is refused...
        assert eval_condition(guard, var) is not (public and explicit is True)
        # ...and the derived default is false whenever public is true.
        if public and explicit is None:
            assert effective is False


# --- the AI Gateway this configuration creates is authenticated -------------------------------


def test_managed_gateway_is_authenticated_by_default(config):
    assert config.variables["ai_gateway_authenticated"]["default"] is None
    expr = config.locals["ai_gateway_authenticated"]
    (check,) = [c["managed_gateway_is_authenticated"] for c in config.parsed["cloudflare.tf"]["check"]]
    warn = single(check["assert"])["condition"]
    for manage, explicit in itertools.product((False, True), (None, False, True)):
        var = {"manage_cloudflare_gateway": manage, "ai_gateway_authenticated": explicit}
        effective = eval_expr(expr, var)
        assert effective is (explicit if explicit is not None else manage), var
        # Only an explicit opt-out leaves a managed gateway open, and the plan warns then.
        assert eval_condition(warn, var, {"ai_gateway_authenticated": effective}) is not (manage and not effective)
    gw = config.resource("cloudflare_ai_gateway", "this").body
    assert gw["authentication"] == "${local.ai_gateway_authenticated}"
    # The token secret and AI_GATEWAY_TOKEN_SECRET follow the same local.
    assert "local.ai_gateway_authenticated ? {ai_gateway_token = " in config.locals["operator_secret_ids"]
    assert "local.ai_gateway_authenticated ? {AI_GATEWAY_TOKEN_SECRET = " in config.locals["function_env"]
    assert "var.ai_gateway_authenticated ?" not in config.text


# --- cold starts -------------------------------------------------------------------------------


def test_service_config_uses_only_documented_arguments(config):
    svc = single(config.resource("google_cloudfunctions2_function", "this").body["service_config"])
    assert set(svc) <= SERVICE_CONFIG_ARGUMENTS, sorted(set(svc) - SERVICE_CONFIG_ARGUMENTS)
    assert svc["min_instance_count"] == "${var.min_instance_count}"
    assert svc["available_cpu"] == "${var.available_cpu}"


def test_cold_start_guidance(config):
    v = config.variables
    assert v["min_instance_count"]["default"] == 0
    desc = v["min_instance_count"]["description"]
    assert "warm" in desc and "idle" in desc and "cold start" in desc
    assert "startup-CPU-boost" in v["available_cpu"]["description"]
    assert "## Cold starts" in DEPLOY and "min_instance_count = 1" in DEPLOY and "startup_cpu_boost" in DEPLOY


# --- APIs, state -------------------------------------------------------------------------------


def test_resource_manager_api_is_enabled(config):
    apis = config.resource("google_project_service", "apis").body["for_each"]
    assert '"cloudresourcemanager.googleapis.com"' in apis


def test_state_backend_is_documented_not_forced(config):
    tf = single(config.parsed["versions.tf"]["terraform"])
    assert "backend" not in tf, "the backend is the operator's choice: keep the example commented"
    text = (INFRA / "versions.tf").read_text(encoding="utf-8")
    assert '# backend "gcs" {' in text
    assert 'backend "gcs"' in DEPLOY and "terraform init -migrate-state" in DEPLOY


# --- the deploy guide --------------------------------------------------------------------------


def _shell_commands(markdown: str) -> list[str]:
    """Commands of the ```sh blocks, continuation lines joined, split at pipes and &&."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #")[0] if not line.lstrip().startswith("#") else ""
            out += [part.strip() for part in re.split(r"\|\||\||&&|\$\(", line) if part.strip()]
    return out


def test_every_gcloud_command_names_its_project():
    commands = [c for c in _shell_commands(DEPLOY) if c.startswith("gcloud ")]
    assert len(commands) >= 10
    for cmd in commands:
        if cmd.startswith(("gcloud auth ", "gcloud config ")):
            continue  # account-level, not project-level
        assert re.search(r"--project[ =]", cmd), cmd


@pytest.mark.parametrize(
    "snippet",
    [
        # first deploy: apply, key, identity-token curl
        "gcloud auth print-identity-token",
        "gcloud secrets versions add",
        # reading generated values back for the app / webhook sender
        "gcloud secrets versions access latest --secret=",
        # logs
        "gcloud functions logs read",
        "gcloud logging read",
        # ADC quota project pitfall for the Service Usage API
        "gcloud auth application-default set-quota-project",
        # spend control
        '"uid:*"',
        '"daily_token_budget": 50000',
        "--data-file=policies.json",
        "enable_caller_policies = true",
    ],
)
def test_deploy_guide_covers(snippet):
    assert snippet in DEPLOY


def test_deploy_guide_shows_how_to_change_the_model():
    assert re.search(r'"gemini-2\.5-flash"\s+= "gemini-3\.8-flash"', DEPLOY)
    assert re.search(r'\bfast\s+= "gemini-3\.5-flash-lite"', DEPLOY)
    assert 'default_model = "gemini-3.8-flash"' in DEPLOY


def test_deploy_guide_names_every_policy_key():
    for key in POLICY_KEYS:
        assert f'"{key}"' in DEPLOY or f"`{key}`" in DEPLOY, key


def test_deploy_guide_uses_retired_models_only_as_alias_names():
    for line in DEPLOY.splitlines():
        for m in re.findall(r"\bgemini-[0-9][0-9a-z.-]*[0-9a-z]", line):
            if RETIRED_MODEL.match(m):
                # Only as the retired NAME mapped to its successor (HCL or MODEL_ALIASES form).
                assert re.search(rf'"{re.escape(m)}"\s+= "gemini-3|\b{re.escape(m)}=gemini-3', line), line
