locals {
  # At least one caller check is configured (guards var.public).
  caller_check_configured = (
    var.enable_client_api_keys
    || var.enable_webhook_secret
    || (var.firebase_project_id != null && var.firebase_project_id != "")
    || (var.app_check_project_number != null && var.app_check_project_number != "")
  )

  # Private function (IAM invoker only) with no in-code caller check: Cloud Run
  # IAM is the caller check, so the function may serve whoever IAM let in.
  # A public function never gets this default (var.public's validation already
  # requires an in-code check, and var.allow_unauthenticated refuses true).
  allow_unauthenticated = (
    var.allow_unauthenticated != null
    ? var.allow_unauthenticated
    : !var.public && !local.caller_check_configured
  )

  # A gateway this configuration creates is authenticated unless the operator
  # says otherwise: an open gateway serves anyone who knows the account id and
  # gateway id, billed to the Gemini key behind it.
  ai_gateway_authenticated = (
    var.ai_gateway_authenticated != null
    ? var.ai_gateway_authenticated
    : var.manage_cloudflare_gateway
  )

  # MODEL_ALIASES: name=model pairs, in key order (stable plans).
  model_aliases = join(",", [for name, model in var.model_aliases : "${name}=${model}"])

  # SAFETY_FLOOR: HARM_CATEGORY_X=THRESHOLD pairs, in key order.
  safety_floor = join(",", [for category, threshold in var.safety_floor : "${category}=${threshold}"])

  # JOBS_URL: the function's own URL, which it cannot read from itself (its
  # url attribute exists only once the function does, and the function's
  # environment is part of the function). A 2nd gen function's
  # cloudfunctions.net URL is deterministic; the function's postcondition
  # checks it against the deployed URLs.
  jobs_url = coalesce(var.jobs_url, "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.function_name}")

  # The gateway the function calls: the managed one when cloudflare.tf creates
  # it (so the function waits for it), else the existing one named by the
  # variable.
  ai_gateway_id = var.manage_cloudflare_gateway ? cloudflare_ai_gateway.this[0].id : var.ai_gateway_id

  # The function's environment: the names of the function's configuration
  # (README, Configuration).
  # Optional entries only appear when set, so the function's own defaults apply
  # otherwise. Secrets are passed by version NAME; the function reads the
  # values itself (never secret_environment_variables).
  function_env = merge(
    {
      CLOUDFLARE_ACCOUNT_ID    = var.cloudflare_account_id
      AI_GATEWAY_ID            = local.ai_gateway_id
      GEMINI_API_VERSION       = var.gemini_api_version
      GEMINI_API_KEY_SECRET    = local.secret_version_names["gemini_api_key"]
      TOOL_ID_KEY_SECRET       = local.secret_version_names["tool_id_key"]
      SECRET_CACHE_SECONDS     = tostring(var.secret_cache_seconds)
      DEFAULT_MODEL            = var.default_model
      MAX_REQUEST_BYTES        = tostring(var.max_request_bytes)
      UPSTREAM_TIMEOUT_SECONDS = tostring(var.upstream_timeout_seconds)
      UPSTREAM_MAX_ATTEMPTS    = tostring(var.upstream_max_attempts)
      ALLOW_UNAUTHENTICATED    = local.allow_unauthenticated ? "true" : "false"
      RATE_LIMIT_PER_MINUTE    = tostring(var.rate_limit_per_minute)
      # Used to build Cloud Logging trace names (projects/P/traces/T).
      GOOGLE_CLOUD_PROJECT = var.project_id
      # functions-framework adds the execution id to every log line.
      LOG_EXECUTION_ID = "true"
    },
    var.ai_gateway_base_url != null ? { AI_GATEWAY_BASE_URL = var.ai_gateway_base_url } : {},
    length(var.allowed_origins) > 0 ? { ALLOWED_ORIGINS = join(",", var.allowed_origins) } : {},
    length(var.model_aliases) > 0 ? { MODEL_ALIASES = local.model_aliases } : {},
    length(var.allowed_models) > 0 ? { ALLOWED_MODELS = join(",", var.allowed_models) } : {},
    length(var.allowed_tools) > 0 ? { ALLOWED_TOOLS = join(",", var.allowed_tools) } : {},
    var.max_output_tokens_limit != null ? { MAX_OUTPUT_TOKENS_LIMIT = tostring(var.max_output_tokens_limit) } : {},
    var.daily_token_budget > 0 ? { DAILY_TOKEN_BUDGET = tostring(var.daily_token_budget) } : {},
    var.body_read_timeout_seconds != null ? { BODY_READ_TIMEOUT_SECONDS = tostring(var.body_read_timeout_seconds) } : {},
    local.ai_gateway_authenticated ? { AI_GATEWAY_TOKEN_SECRET = local.secret_version_names["ai_gateway_token"] } : {},
    var.enable_client_api_keys ? { CLIENT_API_KEYS_SECRET = local.secret_version_names["client_api_keys"] } : {},
    var.enable_webhook_secret ? { WEBHOOK_SECRET_SECRET = local.secret_version_names["webhook_secret"] } : {},
    var.enable_caller_policies ? { CALLER_POLICIES_SECRET = local.secret_version_names["caller_policies"] } : {},
    var.firebase_project_id != null ? { FIREBASE_PROJECT_ID = var.firebase_project_id } : {},
    var.app_check_project_number != null ? { APP_CHECK_PROJECT_NUMBER = var.app_check_project_number } : {},
    length(var.app_check_app_ids) > 0 ? { APP_CHECK_APP_IDS = join(",", var.app_check_app_ids) } : {},
    var.rate_limit_burst != null ? { RATE_LIMIT_BURST = tostring(var.rate_limit_burst) } : {},
    var.redis_url != null ? { REDIS_URL = var.redis_url } : {},
    var.app_check_consume ? { APP_CHECK_CONSUME = "true" } : {},
    length(var.safety_floor) > 0 ? { SAFETY_FLOOR = local.safety_floor } : {},
    length(var.allowed_modalities) > 0 ? { ALLOWED_MODALITIES = join(",", var.allowed_modalities) } : {},
    length(var.allowed_media_types) > 0 ? { ALLOWED_MEDIA_TYPES = join(",", var.allowed_media_types) } : {},
    length(var.allowed_agents) > 0 ? { ALLOWED_AGENTS = join(",", var.allowed_agents) } : {},
    var.prompts_dir != null ? { PROMPTS_DIR = var.prompts_dir } : {},
    var.template_input_max_chars != null ? { TEMPLATE_INPUT_MAX_CHARS = tostring(var.template_input_max_chars) } : {},
    var.idempotency_ttl_seconds != null ? { IDEMPOTENCY_TTL_SECONDS = tostring(var.idempotency_ttl_seconds) } : {},
    var.enable_jobs_queue ? {
      JOBS_QUEUE           = google_cloud_tasks_queue.jobs[0].id
      JOBS_SERVICE_ACCOUNT = google_service_account.jobs[0].email
      JOBS_URL             = local.jobs_url
    } : {},
    length(var.callback_url_prefixes) > 0 ? {
      CALLBACK_URL_PREFIXES          = join(",", var.callback_url_prefixes)
      CALLBACK_SIGNING_SECRET_SECRET = local.secret_version_names["callback_signing_secret"]
    } : {},
    var.callback_max_attempts != null ? { CALLBACK_MAX_ATTEMPTS = tostring(var.callback_max_attempts) } : {},
    var.traces != null ? { TRACES = var.traces } : {},
  )
}

resource "google_cloudfunctions2_function" "this" {
  #checkov:skip=CKV_GCP_124:Mobile/web callers reach it directly; callers are checked in code (and by IAM while private). ALLOW_ALL is only the default of var.ingress_settings.
  project     = var.project_id
  name        = var.function_name
  location    = var.region
  description = "Gemini gateway: app callers in, Gemini through Cloudflare AI Gateway out."
  labels      = var.labels

  build_config {
    runtime     = var.runtime
    entry_point = "generate"
    # Fully-qualified: projects/P/serviceAccounts/EMAIL.
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory = var.available_memory
    # Concurrency > 1 requires at least one full vCPU.
    available_cpu                    = var.available_cpu
    max_instance_request_concurrency = var.max_instance_request_concurrency
    min_instance_count               = var.min_instance_count
    max_instance_count               = var.max_instance_count
    timeout_seconds                  = var.timeout_seconds
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.runtime.email
    environment_variables            = local.function_env
    # Only with a connector: the private network a Memorystore REDIS_URL lives on.
    vpc_connector                 = var.vpc_connector
    vpc_connector_egress_settings = var.vpc_connector != null ? var.vpc_connector_egress_settings : null
  }

  lifecycle {
    # JOBS_URL is computed before the function exists: it must be one of the
    # URLs the function got, or every job's OIDC audience would be wrong.
    postcondition {
      condition     = !var.enable_jobs_queue || contains([self.url, try(self.service_config[0].uri, "")], local.jobs_url)
      error_message = "JOBS_URL (${local.jobs_url}) is not a URL of the deployed function (${self.url}). Set jobs_url = \"${self.url}\" and apply again."
    }
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_source_read,
    google_secret_manager_secret_iam_member.runtime_access,
    # The generated key exists before the first instance starts.
    google_secret_manager_secret_version.generated,
    # A first job can be enqueued as soon as the function serves.
    google_cloud_tasks_queue_iam_member.runtime_enqueue,
    google_service_account_iam_member.runtime_acts_as_jobs,
    google_project_iam_member.app_check_verifier,
  ]
}
