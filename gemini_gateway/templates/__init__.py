"""Server prompt templates (docs/API.md §7e): Dotprompt files the caller names by id and fills with inputs."""
