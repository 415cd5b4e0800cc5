"""Invariants of infra/ checked over the parsed HCL (no provider, no network)."""

from __future__ import annotations

import itertools
import re

import pytest

from gemini_gateway.settings import Settings
from tests.infra.conftest import INFRA, TF_FILES, hcl_regexes, parse_file, single, walk

# The names the function really reads: the alias of every field of its
# Settings (so this list cannot drift from the code), plus the framework's
# LOG_EXECUTION_ID.
FUNCTION_ENV = frozenset(field.alias for field in Settings.model_fields.values() if field.alias)
FRAMEWORK_ENV = frozenset({"LOG_EXECUTION_ID"})
ALLOWED_ENV = FUNCTION_ENV | FRAMEWORK_ENV
# Literal values and local stand-ins: for local development only, never
# passed by Terraform (secrets go by Secret Manager name).
LOCAL_ONLY_ENV = frozenset(
    {
        "GEMINI_API_KEY",
        "AI_GATEWAY_TOKEN",
        "CLIENT_API_KEYS",
        "WEBHOOK_SECRET",
        "CALLER_POLICIES",
        "CALLBACK_SIGNING_SECRET",
        "SECRET_MANAGER_EMULATOR_HOST",
        "CLOUD_TASKS_EMULATOR_HOST",
        "APP_CHECK_VERIFY_URL",
        "APP_CHECK_JWKS_URL",
        "FIREBASE_CERTS_URL",
        "GOOGLE_OIDC_CERTS_URL",
    }
)
ALWAYS_SET_ENV = {
    "CLOUDFLARE_ACCOUNT_ID",
    "AI_GATEWAY_ID",
    "GEMINI_API_KEY_SECRET",
    "TOOL_ID_KEY_SECRET",
    "ALLOW_UNAUTHENTICATED",
    "GOOGLE_CLOUD_PROJECT",
    "LOG_EXECUTION_ID",
}
BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
ACCESSOR = "roles/secretmanager.secretAccessor"
RUNTIME_MEMBER = "${google_service_account.runtime.member}"
BUILD_MEMBER = "${google_service_account.build.member}"


# --- a tiny evaluator for boolean HCL conditions over variables ---------------


def _hcl_bool_to_python(expr: str) -> str:
    expr = expr.strip()
    if expr.startswith("${") and expr.endswith("}"):
        expr = expr[2:-1]
    if re.search(r"[A-Za-z_]\w*\(", expr):
        raise ValueError(f"function calls are not supported: {expr}")
    expr = expr.replace("!=", " __NE__ ").replace("!", " not ").replace("__NE__", "!=")
    expr = expr.replace("||", " or ").replace("&&", " and ")
    expr = re.sub(r"\bnull\b", "None", expr)
    expr = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", expr))
    return re.sub(r"\b(var|local)\.(\w+)", r'\1["\2"]', expr)


def eval_condition(expr: str, var: dict, local: dict | None = None) -> bool:
    return bool(eval(_hcl_bool_to_python(expr), {"__builtins__": {}}, {"var": var, "local": local or {}}))


# --- parsing and structure ------------------------------------------------------


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: p.name)
def test_every_tf_file_parses(path):
    assert isinstance(parse_file(path), dict)


def test_layout():
    names = {p.name for p in TF_FILES}
    assert {
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "apis.tf",
        "iam.tf",
        "secrets.tf",
        "storage.tf",
        "function.tf",
    } <= names
    assert (INFRA / "terraform.tfvars.example").is_file()
    assert not list(INFRA.rglob("*.tfstate")), "state must never be committed"


def test_versions(config):
    tf = single(config.parsed["versions.tf"]["terraform"])
    assert tf["required_version"] == ">= 1.11"
    providers = single(tf["required_providers"])
    assert providers["google"] == {"source": "hashicorp/google", "version": ">= 7.0, < 8.0"}
    assert providers["archive"] == {"source": "hashicorp/archive", "version": ">= 2.5, < 3.0"}
    # Ephemeral random_bytes (the generated tool-call id key) came in 3.7.0.
    assert providers["random"] == {"source": "hashicorp/random", "version": ">= 3.7, < 4.0"}
    if "cloudflare" in providers:
        assert providers["cloudflare"]["source"] == "cloudflare/cloudflare"
        assert providers["cloudflare"]["version"].endswith("< 6.0")


def test_no_registry_modules(config):
    assert all("module" not in doc for doc in config.parsed.values())


def test_every_variable_is_typed_and_described(config):
    for name, body in config.variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"


def test_every_output_is_described(config):
    assert {"function_url", "runtime_service_account_email", "secret_ids", "source_bucket_name"} <= set(config.outputs)
    for name, body in config.outputs.items():
        assert str(body.get("description", "")).strip(), f"output {name} has no description"


def test_checkov_skips_are_inline_with_a_reason(config):
    for fname, text in config.texts.items():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if "checkov:skip" not in line:
                continue
            m = re.match(r"\s*#checkov:skip=(CKV2?_[A-Z]+_\d+):(.{20,})$", line)
            assert m, f"{fname}:{i + 1}: skip without an id and a reason: {line.strip()}"
            assert lines[i - 1].startswith("resource "), f"{fname}:{i + 1}: skip must be the first line of its resource"


# --- secrets -----------------------------------------------------------------------


def test_no_secret_data_anywhere(config):
    for fname, text in config.texts.items():
        assert not re.search(r"\bsecret_data\s*=", text), f"{fname} sets secret_data (stored in state)"
    for block in config.resources():
        for path, _ in walk(block.body):
            assert path.split(".")[-1] != "secret_data", f"{block.address}.{path}"


def test_secret_values_only_through_write_only_ephemeral_inputs(config):
    version = config.resource("google_secret_manager_secret_version", "this").body
    assert version["for_each"] == "${var.manage_secret_values ? local.operator_secret_ids : {}}"
    assert config.variables["manage_secret_values"]["default"] is False
    assert version["secret_data_wo"] == "${local.secret_values[each.key]}"
    assert version["secret_data_wo_version"] == "${var.secret_values_version}"
    values = single(config.parsed["secrets.tf"]["locals"][1:]).get("secret_values", {})
    for key, ref in values.items():
        var = ref.removeprefix("${var.").removesuffix("}")
        assert config.variables[var].get("ephemeral") is True, f"{var} must be ephemeral"
        assert config.variables[var].get("sensitive") is True, f"{var} must be sensitive"
        assert f"{{{key} = " in config.locals["operator_secret_ids"], key
    # Every secret the operator fills has its write-only input.
    assert set(re.findall(r"\{(\w+) = ", config.locals["operator_secret_ids"])) == set(values)


def test_generated_secrets_never_reach_plan_or_state(config):
    """The tool-call id key: random bytes from an ephemeral resource, through the write-only argument."""
    assert config.locals["generated_secret_ids"] == {"tool_id_key": "${var.function_name}-tool-id-key"}
    assert config.locals["secret_ids"] == "${merge(local.operator_secret_ids, local.generated_secret_ids)}"
    (ephemeral,) = [e["random_bytes"] for e in config.parsed["secrets.tf"]["ephemeral"]]
    assert ephemeral == {"tool_id_key": {"length": 32}}
    generated = config.resource("google_secret_manager_secret_version", "generated").body
    assert generated["secret"] == '${google_secret_manager_secret.this["tool_id_key"].id}'
    assert generated["secret_data_wo"] == "${ephemeral.random_bytes.tool_id_key.base64}"
    assert generated["secret_data_wo_version"] == "${var.tool_id_key_version}"
    assert generated["deletion_policy"] == "DISABLE"
    assert config.variables["tool_id_key_version"]["default"] == 1
    # No resource (stateful) random value anywhere: its result would be in state.
    assert not [b for b in config.resources() if b.type.startswith("random_")]
    fn = config.resource("google_cloudfunctions2_function", "this").body
    assert "${google_secret_manager_secret_version.generated}" in fn["depends_on"]


def test_gemini_secret_always_exists_and_optional_ones_are_gated(config):
    ids = config.locals["operator_secret_ids"]
    assert ids.startswith("${merge({gemini_api_key = ")
    for key, flag in (
        ("ai_gateway_token", "local.ai_gateway_authenticated"),
        ("client_api_keys", "var.enable_client_api_keys"),
        ("webhook_secret", "var.enable_webhook_secret"),
        ("caller_policies", "var.enable_caller_policies"),
        ("callback_signing_secret", "length(var.callback_url_prefixes) > 0"),
    ):
        assert f"{flag} ? {{{key} = " in ids, key
    secret = config.resource("google_secret_manager_secret", "this").body
    assert secret["for_each"] == "${local.secret_ids}"
    assert secret["deletion_protection"] == "${var.secret_deletion_protection}"


def test_secret_accessor_only_per_secret_and_only_for_the_runtime_identity(config):
    grants = []
    for block in config.resources():
        for path, value in walk(block.body):
            if path.split(".")[-1] == "role" and isinstance(value, str) and "secretmanager" in value:
                grants.append((block, value))
    assert grants, "the runtime identity must be able to read its secrets"
    for block, role in grants:
        assert block.type == "google_secret_manager_secret_iam_member", block.address
        assert role == ACCESSOR
        assert block.body["member"] == RUNTIME_MEMBER
        assert block.body["for_each"] == "${google_secret_manager_secret.this}"
        assert block.body["secret_id"] == "${each.value.secret_id}"


def test_no_project_level_secret_access_and_no_basic_roles(config):
    for block in config.resources():
        if block.type.startswith("google_project_iam"):
            assert block.type == "google_project_iam_member", f"{block.address}: use additive _member grants"
        for _, value in walk(block.body):
            if isinstance(value, str):
                assert value not in BASIC_ROLES, f"{block.address} grants a basic role"
                if block.type.startswith("google_project_iam"):
                    assert "secretmanager" not in value, f"{block.address}: project-wide secret access"
    for role in BASIC_ROLES:
        assert role not in config.text


def test_project_roles_are_the_build_identity_minimum(config):
    grants = {b.name: b.body for b in config.resources("google_project_iam_member")}
    assert set(grants) == {"build", "app_check_verifier", "trace_agent"}
    body = grants["build"]
    assert body["member"] == BUILD_MEMBER
    assert body["for_each"] == '${toset(["roles/artifactregistry.writer", "roles/logging.logWriter"])}'
    read = config.resource("google_storage_bucket_iam_member", "build_source_read").body
    assert read == {
        "bucket": "${google_storage_bucket.source.name}",
        "role": "roles/storage.objectViewer",
        "member": BUILD_MEMBER,
    }


def test_app_check_verifier_only_with_consumption(config):
    """The one project-level grant of the runtime identity: the App Check token verifier role,
    which exists only at project level, and only while App Check tokens are consumed."""
    grant = config.resource("google_project_iam_member", "app_check_verifier").body
    assert grant == {
        "count": "${var.app_check_consume ? 1 : 0}",
        "project": "${coalesce(var.app_check_project_id, var.project_id)}",
        "role": "roles/firebaseappcheck.tokenVerifier",
        "member": RUNTIME_MEMBER,
    }
    assert config.variables["app_check_consume"]["default"] is False
    (validation,) = config.variables["app_check_consume"]["validation"]
    for consume, number in itertools.product((False, True), (None, "123456789012")):
        ok = eval_condition(validation["condition"], {"app_check_consume": consume, "app_check_project_number": number})
        assert ok is (not consume or number is not None)
    env = config.locals["function_env"]
    assert 'var.app_check_consume ? {APP_CHECK_CONSUME = "true"} : {}' in env
    assert "APP_CHECK_VERIFY_URL" not in _env_keys(config), "a local stand-in only"
    apis = config.resource("google_project_service", "apis").body["for_each"]
    assert 'var.app_check_consume ? ["firebaseappcheck.googleapis.com"] : []' in apis


def test_trace_agent_only_with_cloud_trace(config):
    """Traces: the runtime identity may write spans (Cloud Trace Agent, a project-level role) only while
    they go to Cloud Trace; TRACES is passed only when set."""
    grant = config.resource("google_project_iam_member", "trace_agent").body
    assert grant == {
        "count": '${var.traces == "cloud_trace" ? 1 : 0}',
        "project": "${var.project_id}",
        "role": "roles/cloudtrace.agent",
        "member": RUNTIME_MEMBER,
    }
    assert config.variables["traces"]["default"] is None
    assert "var.traces != null ? {TRACES = var.traces} : {}" in config.locals["function_env"]
    apis = config.resource("google_project_service", "apis").body["for_each"]
    assert 'var.traces == "cloud_trace" ? ["cloudtrace.googleapis.com"] : []' in apis


# --- invocation -----------------------------------------------------------------------


def test_invoker_only_named_members_or_the_guarded_public_switch(config):
    invokers = [
        b
        for b in config.resources()
        if any(
            isinstance(v, str) and v in ("roles/run.invoker", "roles/cloudfunctions.invoker") for _, v in walk(b.body)
        )
    ]
    assert sorted(b.address for b in invokers) == [
        "google_cloud_run_v2_service_iam_member.invoker",
        "google_cloud_run_v2_service_iam_member.jobs_invoker",
        "google_cloud_run_v2_service_iam_member.public",
    ]
    jobs = config.resource("google_cloud_run_v2_service_iam_member", "jobs_invoker").body
    assert jobs["count"] == "${local.jobs}"
    assert jobs["member"] == "${google_service_account.jobs[0].member}"
    named = config.resource("google_cloud_run_v2_service_iam_member", "invoker").body
    assert named["for_each"] == "${toset(var.invoker_members)}"
    assert named["member"] == "${each.value}"
    assert config.variables["invoker_members"]["default"] == []
    public = config.resource("google_cloud_run_v2_service_iam_member", "public").body
    assert public["count"] == "${var.public ? 1 : 0}"
    assert public["member"] == "allUsers"
    assert config.variables["public"]["default"] is False
    for b in (named, public, jobs):
        assert b["name"] == "${google_cloudfunctions2_function.this.name}"
        assert b["location"] == "${google_cloudfunctions2_function.this.location}"
    # allUsers / allAuthenticatedUsers appear nowhere else.
    for block in config.resources():
        if block.address == "google_cloud_run_v2_service_iam_member.public":
            continue
        for _, v in walk(block.body):
            assert not (isinstance(v, str) and v in ("allUsers", "allAuthenticatedUsers")), block.address


def test_invoker_members_cannot_smuggle_in_all_users(config):
    (rx,) = hcl_regexes(single(config.variables["invoker_members"]["validation"])["condition"])
    for ok in ("user:a@example.com", "serviceAccount:x@p.iam.gserviceaccount.com", "group:g@example.com"):
        assert re.search(rx, ok)
    for bad in ("allUsers", "allAuthenticatedUsers", "a@example.com"):
        assert not re.search(rx, bad)


def _caller_check_combinations():
    values = {
        "enable_client_api_keys": (False, True),
        "enable_webhook_secret": (False, True),
        "firebase_project_id": (None, "my-firebase"),
        "app_check_project_number": (None, "123456789012"),
    }
    for combo in itertools.product(*values.values()):
        yield dict(zip(values, combo, strict=True))


def test_public_needs_a_caller_check_at_plan_time(config):
    validations = config.variables["public"]["validation"]
    (condition,) = [v["condition"] for v in validations]
    precondition = single(
        single(config.resource("google_cloud_run_v2_service_iam_member", "public").body["lifecycle"])["precondition"]
    )
    for checks in _caller_check_combinations():
        configured = (
            checks["enable_client_api_keys"]
            or checks["enable_webhook_secret"]
            or bool(checks["firebase_project_id"])
            or bool(checks["app_check_project_number"])
        )
        for public in (False, True):
            var = {"public": public, **checks}
            assert eval_condition(condition, var) is (not public or configured), var
        local = {"caller_check_configured": eval_condition(config.locals["caller_check_configured"], checks)}
        assert local["caller_check_configured"] is configured, checks
        assert eval_condition(precondition["condition"], checks, local) is configured
    # allow_unauthenticated is not a caller check.
    assert "allow_unauthenticated" not in condition


# --- the function ------------------------------------------------------------------------


def test_function_build_and_identities(config):
    fn = config.resource("google_cloudfunctions2_function", "this").body
    build = single(fn["build_config"])
    assert build["entry_point"] == "generate"
    assert build["runtime"] == "${var.runtime}"
    assert build["service_account"] == "${google_service_account.build.id}"
    svc = single(fn["service_config"])
    assert svc["service_account_email"] == "${google_service_account.runtime.email}"
    assert svc["environment_variables"] == "${local.function_env}"
    assert "secret_environment_variables" not in svc, "the function reads Secret Manager itself"
    assert "secret_volumes" not in svc
    assert svc["available_cpu"] == "${var.available_cpu}"
    assert svc["max_instance_request_concurrency"] == "${var.max_instance_request_concurrency}"
    assert svc["ingress_settings"] == "${var.ingress_settings}"


def test_function_sizing_defaults(config):
    v = config.variables
    assert v["runtime"]["default"] in ("python312", "python313")
    assert v["max_instance_request_concurrency"]["default"] == 80
    assert v["available_cpu"]["default"] == "1"
    assert v["available_memory"]["default"] == "512Mi"
    assert v["timeout_seconds"]["default"] == 300
    assert v["ingress_settings"]["default"] in ("ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB")


def _env_keys(config) -> set[str]:
    return set(re.findall(r"\b([A-Z][A-Z0-9_]*) = ", config.locals["function_env"]))


def _terraform_env_names() -> list[str]:
    fn = (INFRA / "function.tf").read_text(encoding="utf-8")
    env = fn[fn.index("function_env = merge(") : fn.index('resource "google_cloudfunctions2_function"')]
    return sorted(set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s+= ", env)))


@pytest.mark.parametrize("name", _terraform_env_names())
def test_every_env_name_is_one_the_function_reads(name):
    """Each name Terraform passes is a Settings alias (or the framework's)."""
    assert name in FUNCTION_ENV | FRAMEWORK_ENV, f"{name} is not a name the function reads"


def test_function_env_names_are_the_functions_names(config):
    keys = _env_keys(config)
    assert keys == set(_terraform_env_names())
    assert keys <= ALLOWED_ENV, f"not a name the function reads: {sorted(keys - ALLOWED_ENV)}"
    assert keys >= ALWAYS_SET_ENV
    assert "ENTRY_POINT" not in keys
    # Literal values and local stand-ins are for local development only:
    # Terraform passes secret names.
    assert not keys & LOCAL_ONLY_ENV, sorted(keys & LOCAL_ONLY_ENV)
    env = config.locals["function_env"]
    assert 'LOG_EXECUTION_ID = "true"' in env
    assert 'ALLOW_UNAUTHENTICATED = local.allow_unauthenticated ? "true" : "false"' in env
    assert 'GEMINI_API_KEY_SECRET = local.secret_version_names["gemini_api_key"]' in env
    assert "GOOGLE_CLOUD_PROJECT = var.project_id" in env


def test_optional_env_entries_only_when_set(config):
    env = config.locals["function_env"]
    for key, guard in (
        ("AI_GATEWAY_BASE_URL", "var.ai_gateway_base_url != null"),
        ("AI_GATEWAY_TOKEN_SECRET", "local.ai_gateway_authenticated"),
        ("CALLER_POLICIES_SECRET", "var.enable_caller_policies"),
        ("MODEL_ALIASES", "length(var.model_aliases) > 0"),
        ("ALLOWED_MODELS", "length(var.allowed_models) > 0"),
        ("ALLOWED_TOOLS", "length(var.allowed_tools) > 0"),
        ("MAX_OUTPUT_TOKENS_LIMIT", "var.max_output_tokens_limit != null"),
        ("DAILY_TOKEN_BUDGET", "var.daily_token_budget > 0"),
        ("BODY_READ_TIMEOUT_SECONDS", "var.body_read_timeout_seconds != null"),
        ("CLIENT_API_KEYS_SECRET", "var.enable_client_api_keys"),
        ("WEBHOOK_SECRET_SECRET", "var.enable_webhook_secret"),
        ("FIREBASE_PROJECT_ID", "var.firebase_project_id != null"),
        ("APP_CHECK_PROJECT_NUMBER", "var.app_check_project_number != null"),
        ("REDIS_URL", "var.redis_url != null"),
        ("RATE_LIMIT_BURST", "var.rate_limit_burst != null"),
        ("ALLOWED_ORIGINS", "length(var.allowed_origins) > 0"),
        ("APP_CHECK_APP_IDS", "length(var.app_check_app_ids) > 0"),
        ("APP_CHECK_CONSUME", "var.app_check_consume"),
        ("SAFETY_FLOOR", "length(var.safety_floor) > 0"),
        ("ALLOWED_MODALITIES", "length(var.allowed_modalities) > 0"),
        ("ALLOWED_MEDIA_TYPES", "length(var.allowed_media_types) > 0"),
        ("ALLOWED_AGENTS", "length(var.allowed_agents) > 0"),
        ("PROMPTS_DIR", "var.prompts_dir != null"),
        ("TEMPLATE_INPUT_MAX_CHARS", "var.template_input_max_chars != null"),
        ("IDEMPOTENCY_TTL_SECONDS", "var.idempotency_ttl_seconds != null"),
        ("JOBS_QUEUE", "var.enable_jobs_queue"),
        ("CALLBACK_URL_PREFIXES", "length(var.callback_url_prefixes) > 0"),
        ("CALLBACK_MAX_ATTEMPTS", "var.callback_max_attempts != null"),
    ):
        assert f"{guard} ? {{{key} = " in env, key


def test_secret_version_names_point_at_the_created_secrets(config):
    names = config.locals["secret_version_names"]
    assert "google_secret_manager_secret.this" in names
    assert '${s.id}/versions/${lookup(var.secret_versions, k, "latest")}' in names


# --- variable validations -------------------------------------------------------------------


def _regex_of(config, var: str, index: int = 0) -> list[str]:
    return hcl_regexes(config.variables[var]["validation"][index]["condition"])


@pytest.mark.parametrize(
    ("var", "good", "bad"),
    [
        ("function_name", ["gemini-gateway", "a", "f" * 63], ["Gemini", "1abc", "a-", "f" * 64, "a_b"]),
        ("region", ["us-central1", "europe-west4", "northamerica-northeast1"], ["us-central1-a", "US", "eu", "europe"]),
        ("project_id", ["my-project-123"], ["short", "My-Project", "p" * 31]),
        ("cloudflare_account_id", ["0123456789abcdef0123456789abcdef"], ["xyz", "0123456789ABCDEF0123456789ABCDEF"]),
        ("available_memory", ["512Mi", "1Gi", "256M"], ["512", "512mb", "1 Gi"]),
    ],
)
def test_variable_regex_validations(config, var, good, bad):
    (rx,) = _regex_of(config, var)
    for value in good:
        assert re.search(rx, value), (var, value)
    for value in bad:
        assert not re.search(rx, value), (var, value)


def test_allowed_origins_validation(config):
    rxs = _regex_of(config, "allowed_origins")
    cond = config.variables["allowed_origins"]["validation"][0]["condition"]
    assert 'o == "*"' in cond

    def ok(o: str) -> bool:
        return o == "*" or any(re.search(rx, o) for rx in rxs)

    for good in (
        "*",
        "https://app.example.com",
        "https://example.com:8443",
        "http://localhost:3000",
        "http://127.0.0.1",
    ):
        assert ok(good), good
    for bad in (
        "http://example.com",
        "https://example.com/",
        "https://example.com/path",
        "example.com",
        "*.example.com",
    ):
        assert not ok(bad), bad


def test_service_account_ids_fit_6_to_30(config):
    cond = config.variables["service_account_prefix"]["validation"][0]["condition"]
    rx_default, rx_prefix = hcl_regexes(cond)
    for rx in (rx_default, rx_prefix):
        for prefix in ("ab", "gemini-gateway", "p" * 24):
            assert re.search(rx, prefix)
            assert 6 <= len(prefix + "-run") <= 30 and 6 <= len(prefix + "-build") <= 30
        for prefix in ("p" * 25, "a-", "-a", "A1"):
            assert not re.search(rx, prefix), prefix
    accounts = {b.name: b.body["account_id"] for b in config.resources("google_service_account")}
    assert accounts == {
        "runtime": "${local.service_account_prefix}-run",
        "build": "${local.service_account_prefix}-build",
        "jobs": "${local.service_account_prefix}-jobs",
    }


def test_numeric_validations_mention_their_bounds(config):
    v = config.variables
    assert "<= 1000" in v["max_instance_request_concurrency"]["validation"][0]["condition"]
    assert ">= 1" in v["max_instance_request_concurrency"]["validation"][0]["condition"]
    assert "<= 3600" in v["timeout_seconds"]["validation"][0]["condition"]
    assert (
        'contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)'
        in v["ingress_settings"]["validation"][0]["condition"]
    )
    assert 'contains(["python312", "python313"], var.runtime)' in v["runtime"]["validation"][0]["condition"]
    conds = " ".join(x["condition"] for x in v["allowed_models"]["validation"])
    assert "length(var.allowed_models) == 0 || contains(var.allowed_models, var.default_model)" in conds


# --- storage, APIs, Cloudflare -------------------------------------------------------------------


def test_source_bucket_is_hardened(config):
    b = config.resource("google_storage_bucket", "source").body
    assert b["uniform_bucket_level_access"] is True
    assert b["public_access_prevention"] == "enforced"
    assert single(b["versioning"])["enabled"] is True
    assert b["lifecycle_rule"], "needs a lifecycle rule"
    logging = single(b["dynamic"])["logging"]
    assert logging["for_each"] == "${var.access_log_bucket == null ? [] : [var.access_log_bucket]}"


def test_apis_stay_enabled_on_destroy(config):
    apis = config.resource("google_project_service", "apis").body
    assert apis["disable_on_destroy"] is False
    for api in (
        "cloudfunctions",
        "run",
        "cloudbuild",
        "artifactregistry",
        "secretmanager",
        "storage",
        "iam",
        # google_project_iam_member calls the Resource Manager API.
        "cloudresourcemanager",
    ):
        assert f'"{api}.googleapis.com"' in apis["for_each"], api


def test_cloudflare_gateway_is_opt_in(config):
    gateways = config.resources("cloudflare_ai_gateway")
    if not gateways:
        pytest.skip("no Cloudflare side")
    (gw,) = gateways
    assert gw.body["count"] == "${var.manage_cloudflare_gateway ? 1 : 0}"
    assert config.variables["manage_cloudflare_gateway"]["default"] is False
    assert gw.body["account_id"] == "${var.cloudflare_account_id}"
    assert gw.body["authentication"] == "${local.ai_gateway_authenticated}"
    assert (
        config.locals["ai_gateway_id"]
        == "${var.manage_cloudflare_gateway ? cloudflare_ai_gateway.this[0].id : var.ai_gateway_id}"
    )


def test_tfvars_example_sets_every_required_variable(config):
    example = parse_file(INFRA / "terraform.tfvars.example")
    required = {name for name, body in config.variables.items() if "default" not in body}
    assert required <= set(example), f"missing: {sorted(required - set(example))}"
    assert set(example) <= set(config.variables), f"unknown: {sorted(set(example) - set(config.variables))}"
    assert not [k for k in example if k.endswith("_value")], "secret values never go in a tfvars file"
