"""Server callers (docs/API.md §12): idempotent retries and answers that arrive later, by signed webhook."""
