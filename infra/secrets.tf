# Secret Manager secrets the function reads itself (cached, so a new version is
# picked up without a redeploy). Terraform owns the secrets and their IAM, not
# their values: values are added with `gcloud secrets versions add` (DEPLOY.md)
# or, opt-in, through the write-only secret_data_wo below. Never secret_data.

locals {
  # Logical name => secret id of the secrets whose values the operator adds.
  # The Gemini key always; the others when enabled.
  operator_secret_ids = merge(
    { gemini_api_key = "${var.function_name}-gemini-api-key" },
    local.ai_gateway_authenticated ? { ai_gateway_token = "${var.function_name}-ai-gateway-token" } : {},
    var.enable_client_api_keys ? { client_api_keys = "${var.function_name}-client-api-keys" } : {},
    var.enable_webhook_secret ? { webhook_secret = "${var.function_name}-webhook-secret" } : {},
    var.enable_caller_policies ? { caller_policies = "${var.function_name}-caller-policies" } : {},
    length(var.callback_url_prefixes) > 0 ? { callback_signing_secret = "${var.function_name}-callback-signing-secret" } : {},
  )

  # ...and of those whose values Terraform generates itself (below): the key
  # of tool-call and interaction ids, which nobody but the function needs.
  generated_secret_ids = {
    tool_id_key = "${var.function_name}-tool-id-key"
  }

  secret_ids = merge(local.operator_secret_ids, local.generated_secret_ids)

  # Full version names handed to the function: projects/P/secrets/S/versions/V.
  secret_version_names = {
    for k, s in google_secret_manager_secret.this :
    k => "${s.id}/versions/${lookup(var.secret_versions, k, "latest")}"
  }
}

resource "google_secret_manager_secret" "this" {
  for_each = local.secret_ids

  project             = var.project_id
  secret_id           = each.value
  labels              = var.labels
  deletion_protection = var.secret_deletion_protection

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------------------
# Opt-in (manage_secret_values = true): values from ephemeral variables through
# the write-only secret_data_wo argument, so they never reach plan or state.
# Bump var.secret_values_version to push new values.
# ---------------------------------------------------------------------------

locals {
  # Ephemeral (built from ephemeral variables): only usable in write-only args.
  secret_values = {
    gemini_api_key          = var.gemini_api_key_value
    ai_gateway_token        = var.ai_gateway_token_value
    client_api_keys         = var.client_api_keys_value
    webhook_secret          = var.webhook_secret_value
    caller_policies         = var.caller_policies_value
    callback_signing_secret = var.callback_signing_secret_value
  }
}

resource "google_secret_manager_secret_version" "this" {
  for_each = var.manage_secret_values ? local.operator_secret_ids : {}

  secret                 = google_secret_manager_secret.this[each.key].id
  secret_data_wo         = local.secret_values[each.key]
  secret_data_wo_version = var.secret_values_version
  # A replaced version is disabled, not destroyed, so a rollback stays possible.
  deletion_policy = "DISABLE"
}

# ---------------------------------------------------------------------------
# Generated keys: 32 random bytes from an ephemeral resource (opened anew on
# every plan, never stored) written through the same write-only argument, so
# the key exists in Secret Manager only. It is sent once per
# var.tool_id_key_version: bumping the version rotates the key.
# ---------------------------------------------------------------------------

ephemeral "random_bytes" "tool_id_key" {
  length = 32
}

resource "google_secret_manager_secret_version" "generated" {
  secret                 = google_secret_manager_secret.this["tool_id_key"].id
  secret_data_wo         = ephemeral.random_bytes.tool_id_key.base64
  secret_data_wo_version = var.tool_id_key_version
  # A replaced version is disabled, not destroyed, so a rollback stays possible.
  deletion_policy = "DISABLE"
}
