"""Server prompt templates (contract section 12): Dotprompt files the caller names by id and fills with inputs."""
