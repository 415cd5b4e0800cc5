# ---------------------------------------------------------------------------
# Optional (enable_jobs_queue = true): asynchronous answers on Cloud Tasks.
#
# A job is an HTTP task that calls the function's own
# POST <JOBS_URL>/internal/jobs/<id> with an OIDC token of the jobs service
# account (audience JOBS_URL). So:
#   - the runtime identity may enqueue on this queue only
#     (roles/cloudtasks.enqueuer on the queue),
#   - and may put the jobs account's identity on a task
#     (roles/iam.serviceAccountUser on that one account, never project-wide);
#   - the jobs account may invoke the function (roles/run.invoker on its
#     Cloud Run service) and nothing else.
# Cloud Tasks' own service agent signs the OIDC tokens; its default role
# (Cloud Tasks Service Agent) allows that.
# ---------------------------------------------------------------------------

locals {
  jobs = var.enable_jobs_queue ? 1 : 0
}

resource "google_service_account" "jobs" {
  count = local.jobs

  project      = var.project_id
  account_id   = "${local.service_account_prefix}-jobs"
  display_name = "${var.function_name} jobs"
  description  = "Identity Cloud Tasks calls ${var.function_name}'s job route with (OIDC): may invoke the function, nothing else."

  depends_on = [google_project_service.apis]
}

resource "google_cloud_tasks_queue" "jobs" {
  count = local.jobs

  project  = var.project_id
  name     = "${var.function_name}-jobs"
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.jobs_queue.max_dispatches_per_second
    max_concurrent_dispatches = var.jobs_queue.max_concurrent_dispatches
  }

  # A task that fails (the instance crashed, the function answered 5xx) is
  # tried again: that is what carries a job through a lost instance.
  retry_config {
    max_attempts       = var.jobs_queue.max_attempts
    min_backoff        = "${var.jobs_queue.min_backoff_seconds}s"
    max_backoff        = "${var.jobs_queue.max_backoff_seconds}s"
    max_doublings      = var.jobs_queue.max_doublings
    max_retry_duration = "${var.jobs_queue.max_retry_duration_seconds}s"
  }

  # One log entry per dispatch attempt (Cloud Logging, resource
  # cloud_tasks_queue): what happened to a job that never finished.
  stackdriver_logging_config {
    sampling_ratio = 1
  }

  depends_on = [google_project_service.apis]
}

resource "google_cloud_tasks_queue_iam_member" "runtime_enqueue" {
  count = local.jobs

  project  = google_cloud_tasks_queue.jobs[0].project
  location = google_cloud_tasks_queue.jobs[0].location
  name     = google_cloud_tasks_queue.jobs[0].name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.runtime.member
}

resource "google_service_account_iam_member" "runtime_acts_as_jobs" {
  count = local.jobs

  service_account_id = google_service_account.jobs[0].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.runtime.member
}

resource "google_cloud_run_v2_service_iam_member" "jobs_invoker" {
  count = local.jobs

  project  = google_cloudfunctions2_function.this.project
  location = google_cloudfunctions2_function.this.location
  name     = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = google_service_account.jobs[0].member
}
