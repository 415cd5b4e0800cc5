"""The Interactions API routes (docs/API.md §7d): the official SDKs' `client.interactions` through the function."""
