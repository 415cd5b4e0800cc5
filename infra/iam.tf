locals {
  service_account_prefix = coalesce(var.service_account_prefix, var.function_name)
}

# ---------------------------------------------------------------------------
# Identities: one for the running function, one for its builds. Neither gets
# a basic role or project-wide secret access.
# ---------------------------------------------------------------------------

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = "${local.service_account_prefix}-run"
  display_name = "${var.function_name} runtime"
  description  = "Identity of the ${var.function_name} function: reads its own secrets, nothing else."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${local.service_account_prefix}-build"
  display_name = "${var.function_name} build"
  description  = "Cloud Build identity for ${var.function_name}: reads the source zip, writes the image and build logs."

  depends_on = [google_project_service.apis]
}

# What Cloud Build needs to build a function with a user-specified service
# account: write build logs and push the image to Artifact Registry
# (the gcf-artifacts repository that Cloud Functions creates).
resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/artifactregistry.writer",
    "roles/logging.logWriter",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.build.member
}

# ...and read the source zip, on the source bucket only.
resource "google_storage_bucket_iam_member" "build_source_read" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# The runtime identity may read each of the function's secrets, one grant per
# secret (never a project-level secretAccessor).
resource "google_secret_manager_secret_iam_member" "runtime_access" {
  for_each = google_secret_manager_secret.this

  project   = each.value.project
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}

# App Check replay protection (app_check_consume): the function consumes each
# token with Firebase's verifyAppCheckToken, which needs
# firebaseappcheck.appCheckTokens.verify on the Firebase project. The Firebase
# App Check Token Verifier role holds just that; it is granted on a project
# because that is the only level it applies to (there is no per-app grant).
resource "google_project_iam_member" "app_check_verifier" {
  count = var.app_check_consume ? 1 : 0

  project = coalesce(var.app_check_project_id, var.project_id)
  role    = "roles/firebaseappcheck.tokenVerifier"
  member  = google_service_account.runtime.member
}

# Traces (traces = "cloud_trace"): the function writes its spans to Cloud
# Trace. The Cloud Trace Agent role holds the write permission and nothing to
# read traces back; it exists only at project level.
resource "google_project_iam_member" "trace_agent" {
  count = var.traces == "cloud_trace" ? 1 : 0

  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = google_service_account.runtime.member
}

# ---------------------------------------------------------------------------
# Invocation: roles/run.invoker on the function's Cloud Run service
# (2nd gen functions are invoked through Cloud Run IAM).
# ---------------------------------------------------------------------------

# Named members only: private by default.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = toset(var.invoker_members)

  project  = google_cloudfunctions2_function.this.project
  location = google_cloudfunctions2_function.this.location
  name     = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = each.value
}

# Public switch. var.public's validation already refuses it without a caller
# check; the precondition repeats the rule next to the grant it protects.
resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.public ? 1 : 0

  project  = google_cloudfunctions2_function.this.project
  location = google_cloudfunctions2_function.this.location
  name     = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"

  lifecycle {
    precondition {
      condition     = local.caller_check_configured
      error_message = "public = true needs at least one caller check: enable_client_api_keys, enable_webhook_secret, firebase_project_id or app_check_project_number."
    }
  }
}
