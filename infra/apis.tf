# APIs the deployment needs. Left enabled on destroy: other workloads in the
# project may depend on them.
resource "google_project_service" "apis" {
  for_each = toset(concat([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    # Project IAM grants (google_project_iam_member) go through it.
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    ],
    # Dashboards and alert policies (monitoring.tf).
    var.enable_monitoring ? ["monitoring.googleapis.com"] : [],
    # The function's own calls to verifyAppCheckToken (a Firebase project
    # using App Check has it on already).
    var.app_check_consume ? ["firebaseappcheck.googleapis.com"] : [],
    var.enable_jobs_queue ? ["cloudtasks.googleapis.com"] : [],
    # The function's spans (traces = "cloud_trace").
    var.traces == "cloud_trace" ? ["cloudtrace.googleapis.com"] : [],
  ))

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
