"""The google-genai peer function the benchmark compares against."""
