terraform {
  # 1.11: write-only arguments (secret_data_wo) and ephemeral variables;
  # 1.9: variable validations that refer to other variables (var.public).
  required_version = ">= 1.11"

  # State is local (infra/terraform.tfstate, git-ignored) unless you enable a
  # backend. For a team or CI, keep it in a GCS bucket of your own (versioned,
  # not the function's source bucket), created once by hand:
  #   gcloud storage buckets create gs://my-gcp-project-tfstate --location=us-central1 \
  #     --uniform-bucket-level-access --public-access-prevention --project my-gcp-project
  #   gcloud storage buckets update gs://my-gcp-project-tfstate --versioning --project my-gcp-project
  # then uncomment, and run `terraform init -migrate-state` (DEPLOY.md):
  #
  # backend "gcs" {
  #   bucket = "my-gcp-project-tfstate"
  #   prefix = "gemini-gateway"
  # }

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.0, < 8.0"
    }
    # 2.5.0 added glob patterns to archive_file's `excludes` (doublestar syntax);
    # the source zip in storage.tf relies on them.
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.5, < 3.0"
    }
    # The tool-call id key (secrets.tf): ephemeral random_bytes, 3.7.0 and later.
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7, < 4.0"
    }
    # Only used when var.manage_cloudflare_gateway = true (cloudflare.tf).
    # cloudflare_ai_gateway first shipped in 5.19.0.
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = ">= 5.19, < 6.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

# Credentials come from the CLOUDFLARE_API_TOKEN environment variable, so no
# Cloudflare token is ever written to a tfvars file or to state. Nothing calls
# the Cloudflare API unless var.manage_cloudflare_gateway = true.
provider "cloudflare" {}
