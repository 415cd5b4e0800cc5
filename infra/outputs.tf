output "function_url" {
  description = "HTTPS URL of the function: the base URL apps and SDKs call."
  value       = google_cloudfunctions2_function.this.url
}

output "function_name" {
  description = "Name of the function (and of its Cloud Run service)."
  value       = google_cloudfunctions2_function.this.name
}

output "runtime_service_account_email" {
  description = "Service account the function runs as (the only reader of its secrets)."
  value       = google_service_account.runtime.email
}

output "build_service_account_email" {
  description = "Service account Cloud Build uses to build the function."
  value       = google_service_account.build.email
}

output "secret_ids" {
  description = "Secret Manager secrets created for the function, by logical name: add values with `gcloud secrets versions add <secret_id> --data-file=- --project <project>`, read them back with `gcloud secrets versions access latest --secret=<secret_id> --project=<project>`."
  value       = { for k, s in google_secret_manager_secret.this : k => s.secret_id }
}

output "secret_version_names" {
  description = "Secret version names the function is configured with (projects/P/secrets/S/versions/V)."
  value       = local.secret_version_names
}

output "source_bucket_name" {
  description = "Bucket that holds the function's source zips."
  value       = google_storage_bucket.source.name
}

output "source_object_name" {
  description = "Object name of the deployed source zip (contains the zip's MD5)."
  value       = google_storage_bucket_object.source.name
}

output "ai_gateway_id" {
  description = "AI Gateway the function calls."
  value       = local.ai_gateway_id
}

output "public" {
  description = "Whether allUsers may invoke the function."
  value       = var.public
}

output "allow_unauthenticated" {
  description = "ALLOW_UNAUTHENTICATED as deployed: true means the function serves requests that pass no in-code caller check (a private function whose only gate is Cloud Run IAM)."
  value       = local.allow_unauthenticated
}

output "ai_gateway_authenticated" {
  description = "Whether the function sends an AI Gateway token (AI_GATEWAY_TOKEN_SECRET): the token secret must then hold the gateway's token."
  value       = local.ai_gateway_authenticated
}
