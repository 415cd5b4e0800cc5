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

output "dashboard_url" {
  description = "The Cloud Monitoring dashboard of spend, errors and latency (docs/OPERATING.md). Null when enable_monitoring = false."
  value       = var.enable_monitoring ? "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", google_monitoring_dashboard.this[0].id), 3)}?project=${var.project_id}" : null
}

output "log_metric_types" {
  description = "Log-based metrics built from the access line, by logical name (metric types for Metrics Explorer and your own alerts)."
  value       = var.enable_monitoring ? local.log_metric_types : {}
}

output "alert_policy_names" {
  description = "Alert policies (projects/P/alertPolicies/N): 5xx share, upstream latency p95, budget refusals, rejected Gemini key. They notify notification_channels."
  value = [
    for p in concat(
      google_monitoring_alert_policy.errors_5xx,
      google_monitoring_alert_policy.upstream_latency,
      google_monitoring_alert_policy.budget_refusals,
      google_monitoring_alert_policy.key_rejected,
    ) : p.name
  ]
}

output "jobs_queue" {
  description = "JOBS_QUEUE: the Cloud Tasks queue of asynchronous answers (projects/P/locations/L/queues/Q). Null unless enable_jobs_queue."
  value       = one(google_cloud_tasks_queue.jobs[*].id)
}

output "jobs_service_account_email" {
  description = "JOBS_SERVICE_ACCOUNT: the identity whose OIDC token Cloud Tasks calls the job route with. Null unless enable_jobs_queue."
  value       = one(google_service_account.jobs[*].email)
}

output "jobs_url" {
  description = "JOBS_URL as deployed: the URL tasks call and their token's audience. Null unless enable_jobs_queue."
  value       = var.enable_jobs_queue ? local.jobs_url : null
}
