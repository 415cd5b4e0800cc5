"""The Interactions API routes (contract section 13): the official SDKs' `client.interactions` through the function."""
