# ---------------------------------------------------------------------------
# The deployable source: main.py, requirements.txt and the gemini_gateway
# package from the repository root, nothing else. `excludes` are doublestar
# globs (archive provider >= 2.5) matched against paths relative to the repo
# root; a matching directory is skipped whole. tests/infra/test_archive.py
# rebuilds this file list the same way and checks it.
# Beware: a pattern that matches "." (the root itself, e.g. "**/.*") would
# exclude everything, hence ".?*" for hidden names.
# ---------------------------------------------------------------------------

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/function-source.zip"

  excludes = [
    # hidden files and directories anywhere: .git, .venv*, .env, caches, .ci, ...
    "**/.?*",
    # bytecode and build leftovers anywhere
    "**/__pycache__",
    "**/*.pyc",
    "**/*.pyo",
    "**/*.egg-info",
    # repository directories that are not the function
    "bench",
    "demo",
    "build",
    "dev",
    "dist",
    "docs",
    "emulators",
    "examples",
    "infra",
    # the example templates `make run` serves; a deployment's own are prompts/*.prompt (PROMPTS_DIR)
    "prompts/examples",
    "scripts",
    "test-artifacts",
    "tests",
    "venv",
    # repository files that are not the function
    "*.cfg",
    "*.ini",
    "*.json",
    "*.lock",
    "*.log",
    "*.md",
    "*.sh",
    "*.toml",
    "*.yaml",
    "*.yml",
    "conftest.py",
    "Dockerfile",
    "LICENSE*",
    "Makefile",
    "NOTICE*",
    "requirements-*.txt",
  ]
}

# ---------------------------------------------------------------------------
# Source bucket: private, uniform access, versioned, pruned.
# ---------------------------------------------------------------------------

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Access logging is on when var.access_log_bucket is set (dynamic "logging" below); the bucket only holds build zips of public source code, so the template does not force a log bucket on operators.
  project  = var.project_id
  name     = coalesce(var.source_bucket_name, "${var.project_id}-${var.function_name}-src")
  location = var.region
  labels   = var.labels

  uniform_bucket_level_access = true       # CKV_GCP_29
  public_access_prevention    = "enforced" # CKV_GCP_114
  # Only derived build artifacts live here: let terraform destroy empty it.
  force_destroy = true

  versioning {
    enabled = true # CKV_GCP_78
  }

  dynamic "logging" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      log_bucket = logging.value # CKV_GCP_62 / CKV_GCP_63
    }
  }

  # Every code change uploads a new object and Terraform deletes the old one,
  # which versioning keeps as a noncurrent version: drop those after a week.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 3
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  # The archive's hash in the name: a code change means a new object name,
  # and a new storage_source.object is what makes the function rebuild.
  name         = "function-source/${data.archive_file.source.output_md5}.zip"
  bucket       = google_storage_bucket.source.name
  source       = data.archive_file.source.output_path
  content_type = "application/zip"
}
