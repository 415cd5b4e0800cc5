"""Server callers (contract section 14): idempotent retries and answers that arrive later, by signed webhook."""
