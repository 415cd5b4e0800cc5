# ---------------------------------------------------------------------------
# Project and naming
# ---------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "Google Cloud project id that hosts the function, its service accounts, secrets and source bucket."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region for the function and its source bucket, e.g. us-central1 or europe-west4."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like us-central1 or europe-west4 (a region, not a zone or a multi-region)."
  }
}

variable "function_name" {
  type        = string
  description = "Name of the function (and of its Cloud Run service). 1-63 characters: lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen."
  default     = "gemini-gateway"

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.function_name))
    error_message = "function_name must be 1-63 characters of lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "service_account_prefix" {
  type        = string
  description = "Prefix of the two service account ids (<prefix>-run for the function, <prefix>-build for Cloud Build). Defaults to function_name; set it when function_name is longer than 24 characters."
  default     = null

  validation {
    # Service account ids are 6-30 characters; the longer suffix is "-build" (6).
    condition = (
      var.service_account_prefix == null
      ? can(regex("^[a-z]([-a-z0-9]{0,22}[a-z0-9])?$", var.function_name)) && length(var.function_name) >= 2
      : can(regex("^[a-z][-a-z0-9]{0,22}[a-z0-9]$", var.service_account_prefix))
    )
    error_message = "Service account ids are 6-30 characters and get a \"-build\" suffix: the prefix (service_account_prefix, or function_name when unset) must be 2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "source_bucket_name" {
  type        = string
  description = "Name of the bucket that holds the function's source zips. Defaults to <project_id>-<function_name>-src."
  default     = null

  validation {
    condition = (
      var.source_bucket_name == null
      ? length("${var.project_id}-${var.function_name}-src") <= 63
      : can(regex("^[a-z0-9][-_a-z0-9]{1,61}[a-z0-9]$", var.source_bucket_name))
    )
    error_message = "source_bucket_name must be 3-63 characters of lowercase letters, digits, hyphens and underscores; when unset, <project_id>-<function_name>-src must fit in 63 characters (set source_bucket_name otherwise)."
  }
}

variable "access_log_bucket" {
  type        = string
  description = "Existing bucket that receives the source bucket's usage and storage logs. Null disables access logging (the source bucket only holds build zips)."
  default     = null

  validation {
    condition     = var.access_log_bucket == null || can(regex("^[a-z0-9][-_.a-z0-9]{1,220}[a-z0-9]$", var.access_log_bucket))
    error_message = "access_log_bucket must be a bucket name (not a gs:// URL)."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels added to the function, bucket and secrets."
  default     = {}
}

variable "secret_deletion_protection" {
  type        = bool
  description = "Protect the Secret Manager secrets from deletion (terraform destroy fails while true). Set false, apply, then destroy to tear everything down."
  default     = true
}

# ---------------------------------------------------------------------------
# Function runtime and scaling
# ---------------------------------------------------------------------------

variable "runtime" {
  type        = string
  description = "Python runtime of the function."
  default     = "python313"

  validation {
    condition     = contains(["python312", "python313"], var.runtime)
    error_message = "runtime must be python312 or python313."
  }
}

variable "available_memory" {
  type        = string
  description = "Memory per instance, e.g. 512Mi or 1Gi."
  default     = "512Mi"

  validation {
    condition     = can(regex("^[1-9][0-9]*(k|M|G|Mi|Gi)$", var.available_memory))
    error_message = "available_memory must be a number followed by k, M, G, Mi or Gi, e.g. 512Mi."
  }
}

variable "available_cpu" {
  type        = string
  description = "vCPUs per instance. At least 1 is required for max_instance_request_concurrency > 1. More vCPUs also shorten a cold start (Python imports and TLS set-up are CPU-bound) and cost more per instance-second: 1 is plenty for a gateway that mostly waits on the upstream. google_cloudfunctions2_function has no startup-CPU-boost argument (DEPLOY.md, Cold starts)."
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.available_cpu)
    error_message = "available_cpu must be one of 1, 2, 4, 6, 8."
  }
}

variable "max_instance_request_concurrency" {
  type        = number
  description = "Requests one instance serves at once. The function is async (ASGI): an instance mostly waits on the upstream, so it holds many slow calls at once."
  default     = 80

  validation {
    condition     = var.max_instance_request_concurrency >= 1 && var.max_instance_request_concurrency <= 1000 && floor(var.max_instance_request_concurrency) == var.max_instance_request_concurrency
    error_message = "max_instance_request_concurrency must be a whole number from 1 to 1000."
  }
}

variable "min_instance_count" {
  type        = number
  description = "Instances kept warm. 0 = scale to zero: no idle cost, but the first request after a quiet spell waits for a cold start (a few seconds). 1 keeps one instance warm, so callers rarely wait, and is billed for that instance's idle time around the clock (DEPLOY.md, Cold starts). One warm instance already serves max_instance_request_concurrency requests at once; more than 1 only helps when traffic bursts beyond that."
  default     = 0

  validation {
    condition     = var.min_instance_count >= 0 && floor(var.min_instance_count) == var.min_instance_count
    error_message = "min_instance_count must be a whole number >= 0."
  }
}

variable "max_instance_count" {
  type        = number
  description = "Upper bound on instances: caps cost and the load sent to the AI Gateway."
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1 && floor(var.max_instance_count) == var.max_instance_count && var.max_instance_count >= var.min_instance_count
    error_message = "max_instance_count must be a whole number >= 1 and >= min_instance_count."
  }
}

variable "timeout_seconds" {
  type        = number
  description = "Request timeout of the function in seconds (long streams need a long timeout)."
  default     = 300

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be a whole number from 1 to 3600."
  }
}

variable "ingress_settings" {
  type        = string
  description = "Who may reach the function's URL at the network level. ALLOW_ALL is needed for mobile and web apps calling it directly; callers are then checked by IAM (private) or by the function's own caller checks (public)."
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

# ---------------------------------------------------------------------------
# Who may invoke the function
# ---------------------------------------------------------------------------

variable "invoker_members" {
  type        = list(string)
  description = "IAM members granted roles/run.invoker on the function, e.g. [\"user:you@example.com\", \"serviceAccount:backend@p.iam.gserviceaccount.com\"]. Empty = nobody but project owners. Use `public` for allUsers."
  default     = []

  validation {
    condition = alltrue([
      for m in var.invoker_members :
      can(regex("^(user|serviceAccount|group|domain|principal|principalSet):.+$", m))
    ])
    error_message = "invoker_members entries must be IAM members such as user:..., serviceAccount:..., group:... or domain:...; allUsers/allAuthenticatedUsers are only reachable through `public`."
  }
}

variable "public" {
  type        = bool
  description = "Grant roles/run.invoker to allUsers so apps can call the function without Google credentials. Refused unless a caller check is configured (client API keys, Firebase Auth, App Check or webhook signatures)."
  default     = false

  validation {
    condition = !var.public || (
      var.enable_client_api_keys
      || var.enable_webhook_secret
      || (var.firebase_project_id != null && var.firebase_project_id != "")
      || (var.app_check_project_number != null && var.app_check_project_number != "")
    )
    error_message = "public = true needs at least one caller check: enable_client_api_keys, enable_webhook_secret, firebase_project_id or app_check_project_number. A public function without one spends your Gemini quota for anyone."
  }
}

variable "allow_unauthenticated" {
  type        = bool
  description = "ALLOW_UNAUTHENTICATED: serve requests that pass no in-code caller check. Null (default) derives it: true for a private function (public = false) with no caller check configured, because Cloud Run IAM (invoker_members) is then the caller check; false otherwise. Set false to make a private function without caller checks refuse to serve (503). true is refused with public = true."
  default     = null

  validation {
    condition     = var.allow_unauthenticated != true || !var.public
    error_message = "allow_unauthenticated = true is only for a private function (public = false), where Cloud Run IAM checks every caller. A public function needs an in-code caller check instead."
  }
}

# ---------------------------------------------------------------------------
# Cloudflare AI Gateway and Gemini
# ---------------------------------------------------------------------------

variable "cloudflare_account_id" {
  type        = string
  description = "Cloudflare account id that owns the AI Gateway (32 hex characters)."

  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.cloudflare_account_id))
    error_message = "cloudflare_account_id must be 32 lowercase hex characters."
  }
}

variable "ai_gateway_id" {
  type        = string
  description = "AI Gateway id (its name in the Cloudflare dashboard)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.ai_gateway_id))
    error_message = "ai_gateway_id must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "ai_gateway_base_url" {
  type        = string
  description = "Override of the AI Gateway base URL. Null keeps the function's default, https://gateway.ai.cloudflare.com/v1."
  default     = null

  validation {
    condition     = var.ai_gateway_base_url == null || can(regex("^https://[^/]+(/.*[^/])?$", var.ai_gateway_base_url))
    error_message = "ai_gateway_base_url must be an https:// URL without a trailing slash."
  }
}

variable "ai_gateway_authenticated" {
  type        = bool
  description = "The AI Gateway requires a token (cf-aig-authorization). Creates the token secret and sets AI_GATEWAY_TOKEN_SECRET. Null (default) = true when manage_cloudflare_gateway creates the gateway (an unauthenticated gateway serves anyone who knows the account and gateway ids, on your Gemini key), false for an existing gateway (set true if yours requires a token, as it should)."
  default     = null
}

variable "gemini_api_version" {
  type        = string
  description = "Gemini API version in the upstream path (after google-ai-studio/)."
  default     = "v1beta"

  validation {
    condition     = contains(["v1", "v1beta"], var.gemini_api_version)
    error_message = "gemini_api_version must be v1 or v1beta."
  }
}

variable "default_model" {
  type        = string
  description = "DEFAULT_MODEL: model used when a request names none. A current stable model: Google retires models (https://ai.google.dev/gemini-api/docs/deprecations); when it retires this one, change it here and map the old name in model_aliases."
  default     = "gemini-3.8-flash"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{0,127}$", var.default_model))
    error_message = "default_model must be a Gemini model id such as gemini-3.8-flash."
  }
}

variable "model_aliases" {
  type        = map(string)
  description = "MODEL_ALIASES: names callers may use => the model they get, e.g. { fast = \"gemini-3.5-flash-lite\", \"gemini-2.5-flash\" = \"gemini-3.8-flash\" }. Lets shipped apps say fast/smart, and keeps old app versions working when Google retires the model they name. Resolved once: a target must be a model, not another alias. Empty = no aliases (MODEL_ALIASES not set)."
  default     = {}

  validation {
    condition = alltrue([
      for name, model in var.model_aliases :
      can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", name)) && can(regex("^[a-z0-9][a-z0-9.-]{0,127}$", model))
    ])
    error_message = "model_aliases names must be 1-64 letters, digits, '.', '_' or '-' (no '=', ',', ':', '/' or spaces), and targets Gemini model ids such as gemini-3.8-flash."
  }

  validation {
    condition     = alltrue([for model in values(var.model_aliases) : !contains(keys(var.model_aliases), model)])
    error_message = "model_aliases targets must be models, not other aliases (an alias is resolved once)."
  }
}

variable "allowed_models" {
  type        = list(string)
  description = "ALLOWED_MODELS: the (resolved) models callers may get. Empty (default) = the function derives it: default_model plus every model_aliases target (ALLOWED_MODELS not set). A list must include default_model and every alias target."
  default     = []

  validation {
    condition     = alltrue([for m in var.allowed_models : can(regex("^[a-z0-9][a-z0-9.-]{0,127}$", m))])
    error_message = "allowed_models entries must be Gemini model ids such as gemini-3.8-flash (no commas or spaces)."
  }

  validation {
    condition     = length(var.allowed_models) == 0 || contains(var.allowed_models, var.default_model)
    error_message = "allowed_models must include default_model (or be empty to let the function derive it)."
  }

  validation {
    condition     = length(var.allowed_models) == 0 || alltrue([for m in values(var.model_aliases) : contains(var.allowed_models, m)])
    error_message = "allowed_models must include every model_aliases target (or be empty to let the function derive it)."
  }
}

variable "allowed_tools" {
  type        = list(string)
  description = "ALLOWED_TOOLS: Gemini built-in tools callers may use, any of google_search, url_context, code_execution (each is billed on top of tokens). Empty (default) = none (ALLOWED_TOOLS not set). Function declarations are always allowed."
  default     = []

  validation {
    condition = alltrue([
      for t in var.allowed_tools : contains(["google_search", "url_context", "code_execution"], t)
    ]) && length(distinct(var.allowed_tools)) == length(var.allowed_tools)
    error_message = "allowed_tools entries must be google_search, url_context or code_execution, each at most once."
  }
}

variable "allowed_origins" {
  type        = list(string)
  description = "Browser origins allowed by CORS: exact https:// origins, http://localhost[:port] for development, or [\"*\"]. Empty = no CORS headers."
  default     = []

  validation {
    condition = alltrue([
      for o in var.allowed_origins :
      o == "*" || can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", o)) || can(regex("^http://(localhost|127\\.0\\.0\\.1)(:[0-9]{1,5})?$", o))
    ])
    error_message = "allowed_origins entries must be \"*\", https://host[:port] or http://localhost[:port] (scheme and host only, no path or trailing slash)."
  }
}

variable "secret_cache_seconds" {
  type        = number
  description = "How long the function reuses a secret value it fetched (a key rejected by the upstream is refetched at once)."
  default     = 300

  validation {
    condition     = var.secret_cache_seconds >= 0 && var.secret_cache_seconds <= 86400
    error_message = "secret_cache_seconds must be between 0 and 86400."
  }
}

variable "secret_versions" {
  type        = map(string)
  description = "Pin secret versions instead of \"latest\", keyed by gemini_api_key, ai_gateway_token, client_api_keys, webhook_secret, caller_policies, callback_signing_secret or tool_id_key, e.g. { gemini_api_key = \"3\" }."
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.secret_versions :
      contains(["gemini_api_key", "ai_gateway_token", "client_api_keys", "webhook_secret", "caller_policies", "callback_signing_secret", "tool_id_key"], k) && can(regex("^(latest|[1-9][0-9]*)$", v))
    ])
    error_message = "secret_versions keys must be gemini_api_key, ai_gateway_token, client_api_keys, webhook_secret, caller_policies, callback_signing_secret or tool_id_key, and values \"latest\" or a version number."
  }
}

variable "max_request_bytes" {
  type        = number
  description = "Largest request body the function accepts (bytes); larger ones get 413."
  default     = 8388608

  validation {
    condition     = var.max_request_bytes >= 1024 && var.max_request_bytes <= 33554432
    error_message = "max_request_bytes must be between 1024 and 33554432 (Cloud Run's 32 MiB request limit)."
  }
}

variable "upstream_timeout_seconds" {
  type        = number
  description = "Total time budget for one upstream call, retries included."
  default     = 60

  validation {
    condition     = var.upstream_timeout_seconds > 0 && var.upstream_timeout_seconds <= var.timeout_seconds
    error_message = "upstream_timeout_seconds must be > 0 and <= timeout_seconds."
  }
}

variable "upstream_max_attempts" {
  type        = number
  description = "Attempts on retryable upstream failures (1 = no retry)."
  default     = 3

  validation {
    condition     = var.upstream_max_attempts >= 1 && var.upstream_max_attempts <= 10 && floor(var.upstream_max_attempts) == var.upstream_max_attempts
    error_message = "upstream_max_attempts must be a whole number from 1 to 10."
  }
}

variable "body_read_timeout_seconds" {
  type        = number
  description = "BODY_READ_TIMEOUT_SECONDS: a request body not fully received in this time gets 408 and the connection is closed, so slow or stalled senders cannot hold an instance's slots. Null (default) = the function's default, 10 seconds."
  default     = null

  validation {
    condition     = var.body_read_timeout_seconds == null || try(var.body_read_timeout_seconds >= 1 && var.body_read_timeout_seconds <= 300 && var.body_read_timeout_seconds <= var.timeout_seconds, false)
    error_message = "body_read_timeout_seconds must be from 1 to 300 and <= timeout_seconds."
  }
}

# ---------------------------------------------------------------------------
# Spend control: output ceiling, daily token budgets, per-caller policies
# ---------------------------------------------------------------------------

variable "max_output_tokens_limit" {
  type        = number
  description = "MAX_OUTPUT_TOKENS_LIMIT: ceiling for a request's max_output_tokens on every route; a request naming none gets this value upstream, one above it gets 400. Null (default) = the function's default, 8192."
  default     = null

  validation {
    condition     = var.max_output_tokens_limit == null || try(var.max_output_tokens_limit >= 1 && var.max_output_tokens_limit <= 65536 && floor(var.max_output_tokens_limit) == var.max_output_tokens_limit, false)
    error_message = "max_output_tokens_limit must be a whole number from 1 to 65536."
  }
}

variable "daily_token_budget" {
  type        = number
  description = "DAILY_TOKEN_BUDGET: tokens (usage total_tokens) each caller may spend per UTC day; past it the caller gets 429 until midnight UTC. Kept with the rate limits (per instance, or shared through redis_url). 0 (default) = off (DAILY_TOKEN_BUDGET not set). Per-caller overrides: enable_caller_policies."
  default     = 0

  validation {
    condition     = var.daily_token_budget >= 0 && floor(var.daily_token_budget) == var.daily_token_budget
    error_message = "daily_token_budget must be a whole number >= 0 (0 = off)."
  }
}

variable "enable_caller_policies" {
  type        = bool
  description = "Per-caller policies (rate limits, daily token budgets, models, tools, output ceiling) from a JSON document in Secret Manager: creates the caller policies secret and sets CALLER_POLICIES_SECRET. Add the JSON with `gcloud secrets versions add` (DEPLOY.md); a new version is picked up without a redeploy."
  default     = false
}

# ---------------------------------------------------------------------------
# Caller checks (at least one is required for public = true)
# ---------------------------------------------------------------------------

variable "enable_client_api_keys" {
  type        = bool
  description = "Check client API keys (Authorization: Bearer or X-API-Key). Creates the client keys secret and sets CLIENT_API_KEYS_SECRET."
  default     = false
}

variable "firebase_project_id" {
  type        = string
  description = "Firebase project whose Auth ID tokens are accepted (sets FIREBASE_PROJECT_ID). Null = off."
  default     = null

  validation {
    condition     = var.firebase_project_id == null || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.firebase_project_id))
    error_message = "firebase_project_id must be a project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "app_check_project_number" {
  type        = string
  description = "Project NUMBER whose Firebase App Check tokens are accepted (sets APP_CHECK_PROJECT_NUMBER). Null = off."
  default     = null

  validation {
    condition     = var.app_check_project_number == null || can(regex("^[0-9]{6,20}$", var.app_check_project_number))
    error_message = "app_check_project_number must be a project number (digits only)."
  }
}

variable "app_check_app_ids" {
  type        = list(string)
  description = "Narrow App Check to these app ids (sets APP_CHECK_APP_IDS). Empty = any app of the project."
  default     = []

  validation {
    condition     = alltrue([for a in var.app_check_app_ids : can(regex("^[^,\\s]+$", a))])
    error_message = "app_check_app_ids entries must not contain commas or whitespace."
  }
}

variable "app_check_consume" {
  type        = bool
  description = "APP_CHECK_CONSUME: verify and consume every App Check token with Firebase (replay protection: a token works once; apps send limited-use tokens). Needs app_check_project_number. Grants the runtime identity the Firebase App Check Token Verifier role (roles/firebaseappcheck.tokenVerifier) on app_check_project_id: a project-level grant, because that role only applies to a project. Each request then waits for one call to Firebase."
  default     = false

  validation {
    condition     = !var.app_check_consume || var.app_check_project_number != null
    error_message = "app_check_consume = true needs app_check_project_number (the Firebase project whose App Check tokens are consumed)."
  }
}

variable "app_check_project_id" {
  type        = string
  description = "Project id of the Firebase project app_check_project_number numbers, where app_check_consume grants roles/firebaseappcheck.tokenVerifier to the runtime identity. Null = project_id (the usual case: Firebase and the function in one project). Whoever applies needs to grant IAM roles there."
  default     = null

  validation {
    condition     = var.app_check_project_id == null || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.app_check_project_id))
    error_message = "app_check_project_id must be a project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "enable_webhook_secret" {
  type        = bool
  description = "Accept HMAC-signed webhook calls (X-Signature). Creates the webhook secret and sets WEBHOOK_SECRET_SECRET."
  default     = false
}

variable "rate_limit_per_minute" {
  type        = number
  description = "Per-caller requests per minute (token bucket). 0 = off."
  default     = 0

  validation {
    condition     = var.rate_limit_per_minute >= 0 && floor(var.rate_limit_per_minute) == var.rate_limit_per_minute
    error_message = "rate_limit_per_minute must be a whole number >= 0."
  }
}

variable "rate_limit_burst" {
  type        = number
  description = "Per-caller burst size. Null = the function's default (rate_limit_per_minute)."
  default     = null

  validation {
    condition     = var.rate_limit_burst == null || try(var.rate_limit_burst >= 1 && floor(var.rate_limit_burst) == var.rate_limit_burst, false)
    error_message = "rate_limit_burst must be a whole number >= 1."
  }
}

variable "redis_url" {
  type        = string
  description = "redis:// or rediss:// URL of a Redis shared by all instances for rate limits (sets REDIS_URL). Null = per-instance memory. It is a plain environment variable: use a Redis without a password in the URL (e.g. Memorystore on a private network)."
  default     = null

  validation {
    condition     = var.redis_url == null || can(regex("^rediss?://", var.redis_url))
    error_message = "redis_url must start with redis:// or rediss://."
  }
}

variable "vpc_connector" {
  type        = string
  description = "Serverless VPC Access connector (projects/P/locations/R/connectors/C) the function reaches a private Redis through, e.g. Memorystore for redis_url. Null = no VPC access (a private Redis is then unreachable and rate limits fall back to per-instance memory)."
  default     = null

  validation {
    condition     = var.vpc_connector == null || can(regex("^projects/[^/]+/locations/[^/]+/connectors/[^/]+$", var.vpc_connector))
    error_message = "vpc_connector must look like projects/P/locations/R/connectors/C."
  }
}

variable "vpc_connector_egress_settings" {
  type        = string
  description = "Which egress goes through vpc_connector: PRIVATE_RANGES_ONLY (Redis; Cloudflare and Google APIs stay on the default path) or ALL_TRAFFIC."
  default     = "PRIVATE_RANGES_ONLY"

  validation {
    condition     = contains(["PRIVATE_RANGES_ONLY", "ALL_TRAFFIC"], var.vpc_connector_egress_settings)
    error_message = "vpc_connector_egress_settings must be PRIVATE_RANGES_ONLY or ALL_TRAFFIC."
  }
}

# ---------------------------------------------------------------------------
# Optional: secret values through write-only arguments (never in plan/state)
# ---------------------------------------------------------------------------

variable "manage_secret_values" {
  type        = bool
  description = "Create secret versions from the *_value variables below through the write-only secret_data_wo argument (Terraform >= 1.11; values never reach plan or state). Default false: add values with `gcloud secrets versions add` (DEPLOY.md)."
  default     = false
}

variable "secret_values_version" {
  type        = number
  description = "Bump this number to push new *_value values as new secret versions (write-only arguments are only sent when their version changes)."
  default     = 1

  validation {
    condition     = var.secret_values_version >= 1 && floor(var.secret_values_version) == var.secret_values_version
    error_message = "secret_values_version must be a whole number >= 1."
  }
}

variable "gemini_api_key_value" {
  type        = string
  description = "Google AI Studio key, used only when manage_secret_values = true. Pass it as TF_VAR_gemini_api_key_value, never in a tfvars file."
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "ai_gateway_token_value" {
  type        = string
  description = "AI Gateway token, used only when manage_secret_values is true and the gateway is authenticated (ai_gateway_authenticated, which defaults to true with manage_cloudflare_gateway) (TF_VAR_ai_gateway_token_value)."
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "client_api_keys_value" {
  type        = string
  description = "Client keys (name:key entries, one per line), used only when manage_secret_values and enable_client_api_keys are true (TF_VAR_client_api_keys_value)."
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "webhook_secret_value" {
  type        = string
  description = "Webhook HMAC secret, used only when manage_secret_values and enable_webhook_secret are true (TF_VAR_webhook_secret_value)."
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "caller_policies_value" {
  type        = string
  description = "Caller policies JSON document, used only when manage_secret_values and enable_caller_policies are true (TF_VAR_caller_policies_value=\"$(cat policies.json)\")."
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "callback_signing_secret_value" {
  type        = string
  description = "Callback signing secret (whsec_ followed by base64), used only when manage_secret_values is true and callback_url_prefixes is set (TF_VAR_callback_signing_secret_value). Receivers verify deliveries with the same value."
  default     = null
  sensitive   = true
  ephemeral   = true
}

# ---------------------------------------------------------------------------
# Optional: the Cloudflare side (cloudflare.tf)
# ---------------------------------------------------------------------------

variable "manage_cloudflare_gateway" {
  type        = bool
  description = "Also create the AI Gateway (cloudflare_ai_gateway) with logging, a rate limit and, unless ai_gateway_authenticated = false, authentication. Needs CLOUDFLARE_API_TOKEN with AI Gateway Edit permission. Default false: use an existing gateway."
  default     = false
}

variable "cloudflare_gateway_collect_logs" {
  type        = bool
  description = "Managed gateway: keep request logs in Cloudflare."
  default     = true
}

variable "cloudflare_gateway_cache_ttl" {
  type        = number
  description = "Managed gateway: default cache TTL in seconds (0 = no caching unless a request asks for it)."
  default     = 0

  validation {
    condition     = var.cloudflare_gateway_cache_ttl >= 0
    error_message = "cloudflare_gateway_cache_ttl must be >= 0."
  }
}

variable "cloudflare_gateway_rate_limit" {
  type        = number
  description = "Managed gateway: requests allowed per rate_limit_interval across all callers (0 = no gateway rate limit)."
  default     = 600

  validation {
    condition     = var.cloudflare_gateway_rate_limit >= 0 && floor(var.cloudflare_gateway_rate_limit) == var.cloudflare_gateway_rate_limit
    error_message = "cloudflare_gateway_rate_limit must be a whole number >= 0."
  }
}

variable "cloudflare_gateway_rate_limit_interval" {
  type        = number
  description = "Managed gateway: rate limit window in seconds."
  default     = 60

  validation {
    condition     = var.cloudflare_gateway_rate_limit_interval >= 1 && floor(var.cloudflare_gateway_rate_limit_interval) == var.cloudflare_gateway_rate_limit_interval
    error_message = "cloudflare_gateway_rate_limit_interval must be a whole number >= 1."
  }
}

# ---------------------------------------------------------------------------
# What free-form callers may ask (README, Configuration); unset = the
# function's defaults
# ---------------------------------------------------------------------------

variable "safety_floor" {
  type        = map(string)
  description = "SAFETY_FLOOR: the least strict safety threshold per harm category, e.g. { HARM_CATEGORY_HARASSMENT = \"BLOCK_MEDIUM_AND_ABOVE\" }. Sent upstream for every category a caller leaves unset; a caller asking for a looser one gets 400. Empty (default) = Google's defaults, callers may set any threshold."
  default     = {}

  validation {
    condition = alltrue([
      for category, threshold in var.safety_floor :
      can(regex("^HARM_CATEGORY_[A-Z_]+$", category)) && contains(["BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"], threshold)
    ])
    error_message = "safety_floor keys must be harm categories (HARM_CATEGORY_...) and values one of BLOCK_LOW_AND_ABOVE, BLOCK_MEDIUM_AND_ABOVE, BLOCK_ONLY_HIGH, BLOCK_NONE, OFF."
  }
}

variable "allowed_modalities" {
  type        = list(string)
  description = "ALLOWED_MODALITIES: output modalities callers may ask for besides text: image, audio. Empty (default) = text only."
  default     = []

  validation {
    condition     = alltrue([for m in var.allowed_modalities : contains(["text", "image", "audio"], m)]) && length(distinct(var.allowed_modalities)) == length(var.allowed_modalities)
    error_message = "allowed_modalities entries must be text, image or audio, each at most once."
  }
}

variable "allowed_media_types" {
  type        = list(string)
  description = "ALLOWED_MEDIA_TYPES: inline media types callers may send, e.g. [\"image/png\", \"image/jpeg\", \"audio/*\", \"application/pdf\"]. Empty (default) = the function's default image types."
  default     = []

  validation {
    condition     = alltrue([for t in var.allowed_media_types : can(regex("^[a-z]+/([a-z0-9][a-z0-9.+-]*|\\*)$", t))])
    error_message = "allowed_media_types entries must be media types such as image/png or a type wildcard such as audio/* (lowercase, no commas or spaces)."
  }
}

variable "allowed_agents" {
  type        = list(string)
  description = "ALLOWED_AGENTS: Interactions API agents callers may use (agents such as Deep Research run long and cost much). Empty (default) = none."
  default     = []

  validation {
    condition     = alltrue([for a in var.allowed_agents : can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$", a))])
    error_message = "allowed_agents entries must be agent names of letters, digits, '.', '_', '/' or '-' (no commas or spaces)."
  }
}

variable "prompts_dir" {
  type        = string
  description = "PROMPTS_DIR: directory of the server prompt templates (<id>.prompt files), relative to the deployed source. Null (default) = the function's default, prompts."
  default     = null

  validation {
    condition     = var.prompts_dir == null || (can(regex("^[A-Za-z0-9_][A-Za-z0-9_./-]*$", coalesce(var.prompts_dir, "-"))) && !strcontains(coalesce(var.prompts_dir, "-"), ".."))
    error_message = "prompts_dir must be a relative path inside the source (letters, digits, '_', '.', '/', '-'; no '..')."
  }
}

variable "template_input_max_chars" {
  type        = number
  description = "TEMPLATE_INPUT_MAX_CHARS: cap on every string input of a prompt template that has no maxLength of its own. Null (default) = the function's default, 2000."
  default     = null

  validation {
    condition     = var.template_input_max_chars == null || try(var.template_input_max_chars >= 1 && var.template_input_max_chars <= 1000000 && floor(var.template_input_max_chars) == var.template_input_max_chars, false)
    error_message = "template_input_max_chars must be a whole number from 1 to 1000000."
  }
}

# ---------------------------------------------------------------------------
# Server callers: safe retries, answers that arrive later, signed callbacks
# ---------------------------------------------------------------------------

variable "idempotency_ttl_seconds" {
  type        = number
  description = "IDEMPOTENCY_TTL_SECONDS: how long the answer to an Idempotency-Key request is kept for replays (shared through redis_url, else per instance). Null (default) = the function's default, 86400."
  default     = null

  validation {
    condition     = var.idempotency_ttl_seconds == null || try(var.idempotency_ttl_seconds >= 1 && var.idempotency_ttl_seconds <= 2592000 && floor(var.idempotency_ttl_seconds) == var.idempotency_ttl_seconds, false)
    error_message = "idempotency_ttl_seconds must be a whole number from 1 to 2592000 (30 days)."
  }
}

variable "enable_jobs_queue" {
  type        = bool
  description = "Run asynchronous answers (Prefer: respond-async) on Cloud Tasks, durably: creates the queue, a jobs service account (the OIDC identity tasks call the function with), its invoker grant, and the runtime identity's right to enqueue and to act as it; sets JOBS_QUEUE, JOBS_SERVICE_ACCOUNT and JOBS_URL. Needs redis_url (job state is shared by all instances). Default false: jobs run in-process after the 202, not durable."
  default     = false

  validation {
    condition     = !var.enable_jobs_queue || var.redis_url != null
    error_message = "enable_jobs_queue = true needs redis_url: job state lives in Redis, because a task can land on any instance (JOBS_QUEUE without REDIS_URL is a configuration error)."
  }
}

variable "jobs_url" {
  type        = string
  description = "JOBS_URL: the function's own URL, which tasks call (POST <jobs_url>/internal/jobs/<id>) and the audience of their OIDC token. Null (default) = the function's deterministic URL https://<region>-<project_id>.cloudfunctions.net/<function_name>, known before the function exists (its url attribute is not: the function cannot name itself). If the deployed function reports another URL the apply stops and names it: set it here and apply again."
  default     = null

  validation {
    condition     = var.jobs_url == null || can(regex("^https://[^/\\s]+(/[^\\s]*[^/\\s])?$", coalesce(var.jobs_url, "-")))
    error_message = "jobs_url must be an https:// URL without a trailing slash."
  }
}

variable "jobs_queue" {
  type = object({
    max_attempts               = optional(number, 10)
    min_backoff_seconds        = optional(number, 10)
    max_backoff_seconds        = optional(number, 600)
    max_doublings              = optional(number, 5)
    max_retry_duration_seconds = optional(number, 0)
    max_dispatches_per_second  = optional(number, 10)
    max_concurrent_dispatches  = optional(number, 50)
  })
  description = "Cloud Tasks queue settings (enable_jobs_queue): retry config (attempts per job, exponential backoff between min and max, max_retry_duration_seconds 0 = no time limit) and dispatch limits (how hard the queue may drive the function)."
  default     = {}

  validation {
    condition = (
      var.jobs_queue.max_attempts >= 1 && var.jobs_queue.max_attempts <= 100 && floor(var.jobs_queue.max_attempts) == var.jobs_queue.max_attempts
      && var.jobs_queue.min_backoff_seconds >= 1 && var.jobs_queue.min_backoff_seconds <= var.jobs_queue.max_backoff_seconds
      && var.jobs_queue.max_backoff_seconds <= 3600
      && var.jobs_queue.max_doublings >= 0 && var.jobs_queue.max_doublings <= 16 && floor(var.jobs_queue.max_doublings) == var.jobs_queue.max_doublings
      && var.jobs_queue.max_retry_duration_seconds >= 0 && floor(var.jobs_queue.max_retry_duration_seconds) == var.jobs_queue.max_retry_duration_seconds
      && var.jobs_queue.max_dispatches_per_second > 0 && var.jobs_queue.max_dispatches_per_second <= 500
      && var.jobs_queue.max_concurrent_dispatches >= 1 && var.jobs_queue.max_concurrent_dispatches <= 5000 && floor(var.jobs_queue.max_concurrent_dispatches) == var.jobs_queue.max_concurrent_dispatches
    )
    error_message = "jobs_queue: max_attempts 1-100, 1 <= min_backoff_seconds <= max_backoff_seconds <= 3600, max_doublings 0-16, max_retry_duration_seconds >= 0 (whole), max_dispatches_per_second > 0 and <= 500, max_concurrent_dispatches 1-5000."
  }
}

variable "callback_url_prefixes" {
  type        = list(string)
  description = "CALLBACK_URL_PREFIXES: the only URLs asynchronous answers may be delivered to (callback.url) and Interactions webhooks may name, e.g. [\"https://hooks.example.com/gemini/\"]. Setting it also creates the callback signing secret and sets CALLBACK_SIGNING_SECRET_SECRET (add a whsec_ value: DEPLOY.md). Empty (default) = callbacks refused."
  default     = []

  validation {
    condition     = alltrue([for p in var.callback_url_prefixes : can(regex("^https://[^/\\s,]+(/[^\\s,]*)?$", p))])
    error_message = "callback_url_prefixes entries must be https:// URL prefixes (no commas or spaces); http:// is for local development only."
  }
}

variable "callback_max_attempts" {
  type        = number
  description = "CALLBACK_MAX_ATTEMPTS: delivery attempts of one callback (jittered exponential backoff; 410 Gone stops at once). Null (default) = the function's default, 8."
  default     = null

  validation {
    condition     = var.callback_max_attempts == null || try(var.callback_max_attempts >= 1 && var.callback_max_attempts <= 20 && floor(var.callback_max_attempts) == var.callback_max_attempts, false)
    error_message = "callback_max_attempts must be a whole number from 1 to 20."
  }
}

# ---------------------------------------------------------------------------
# Keys Terraform generates itself (never in plan or state)
# ---------------------------------------------------------------------------

variable "tool_id_key_version" {
  type        = number
  description = "Version of the tool-call / interaction id key (TOOL_ID_KEY_SECRET), a random 32-byte key Terraform writes into Secret Manager through a write-only argument. Bump it to rotate the key: ids handed out before then stop being accepted."
  default     = 1

  validation {
    condition     = var.tool_id_key_version >= 1 && floor(var.tool_id_key_version) == var.tool_id_key_version
    error_message = "tool_id_key_version must be a whole number >= 1."
  }
}

# ---------------------------------------------------------------------------
# Monitoring (monitoring.tf, docs/OPERATING.md)
# ---------------------------------------------------------------------------

variable "traces" {
  type        = string
  description = "TRACES: \"cloud_trace\" gives every request a span in Cloud Trace, with one per upstream attempt (OpenTelemetry's HTTP and GenAI attributes, continuing the caller's traceparent / X-Cloud-Trace-Context; docs/API.md, section 11), enables the Cloud Trace API and grants the runtime identity roles/cloudtrace.agent on the project (the role exists only at project level). \"console\" writes the spans to the function's logs as JSON lines instead (no grant); \"off\" or null (default): not passed, no traces, nothing of OpenTelemetry loaded."
  default     = null

  validation {
    condition     = contains(["off", "cloud_trace", "console"], coalesce(var.traces, "off"))
    error_message = "traces must be \"off\", \"cloud_trace\" or \"console\" (or null)."
  }
}

variable "enable_monitoring" {
  type        = bool
  description = "Create the log-based metrics, the dashboard and the alert policies of monitoring.tf. Log-based metrics are billed as Cloud Monitoring metrics beyond the free allotment."
  default     = true
}

variable "notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channels the alerts go to, as ids projects/P/notificationChannels/N (create them in the console or with gcloud: DEPLOY.md). Empty (default): the alerts are still created and open incidents in the console, but notify nobody."
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))])
    error_message = "notification_channels entries must be channel ids such as projects/my-project/notificationChannels/1234567890."
  }
}

variable "alert_5xx_ratio" {
  type        = number
  description = "Alert when more than this share of answers over 5 minutes are 5xx (0.05 = 5%)."
  default     = 0.05

  validation {
    condition     = var.alert_5xx_ratio > 0 && var.alert_5xx_ratio <= 1
    error_message = "alert_5xx_ratio must be above 0 and at most 1."
  }
}

variable "alert_5xx_min_requests" {
  type        = number
  description = "The 5xx alert only judges 5-minute windows with at least this many requests (one failure in a quiet spell is not an incident)."
  default     = 20

  validation {
    condition     = var.alert_5xx_min_requests >= 1 && floor(var.alert_5xx_min_requests) == var.alert_5xx_min_requests
    error_message = "alert_5xx_min_requests must be a whole number >= 1."
  }
}

variable "alert_upstream_latency_p95_ms" {
  type        = number
  description = "Alert when the 95th percentile of upstream time (AI Gateway + Gemini, retries included) stays above this many milliseconds for 10 minutes. Thinking models take seconds; the default leaves room for them."
  default     = 30000

  validation {
    condition     = var.alert_upstream_latency_p95_ms > 0 && var.alert_upstream_latency_p95_ms <= var.upstream_timeout_seconds * 1000
    error_message = "alert_upstream_latency_p95_ms must be above 0 and at most upstream_timeout_seconds * 1000 (no call waits longer)."
  }
}

variable "alert_budget_refusals_per_hour" {
  type        = number
  description = "Alert when more than this many requests in an hour are refused because their caller spent its daily token budget (429, limit daily_tokens)."
  default     = 10

  validation {
    condition     = var.alert_budget_refusals_per_hour >= 0 && floor(var.alert_budget_refusals_per_hour) == var.alert_budget_refusals_per_hour
    error_message = "alert_budget_refusals_per_hour must be a whole number >= 0."
  }
}
