# Optional: the Cloudflare end, so one apply creates both sides.
# cloudflare_ai_gateway (Cloudflare provider >= 5.19): an authenticated gateway
# (local.ai_gateway_authenticated: true unless var.ai_gateway_authenticated =
# false) with logging and a gateway-wide rate limit. An unauthenticated gateway
# answers anyone who knows the account id and gateway id, on the Gemini key
# behind it. The gateway token itself (AI Gateway "Run" permission) is created
# in the Cloudflare dashboard and stored in the token secret (DEPLOY.md).

resource "cloudflare_ai_gateway" "this" {
  count = var.manage_cloudflare_gateway ? 1 : 0

  account_id                 = var.cloudflare_account_id
  id                         = var.ai_gateway_id
  authentication             = local.ai_gateway_authenticated
  collect_logs               = var.cloudflare_gateway_collect_logs
  cache_ttl                  = var.cloudflare_gateway_cache_ttl
  cache_invalidate_on_update = true
  rate_limiting_limit        = var.cloudflare_gateway_rate_limit
  rate_limiting_interval     = var.cloudflare_gateway_rate_limit_interval
  rate_limiting_technique    = "sliding"
}

# A warning (not an error) on every plan while a managed gateway is left open.
check "managed_gateway_is_authenticated" {
  assert {
    condition     = !var.manage_cloudflare_gateway || local.ai_gateway_authenticated
    error_message = "manage_cloudflare_gateway creates an UNAUTHENTICATED AI Gateway (ai_gateway_authenticated = false): anyone who knows the account id and gateway id can call Gemini through it. Remove ai_gateway_authenticated = false unless that is intended."
  }
}
