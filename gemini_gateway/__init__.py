"""A Gemini proxy for apps: caller checks, validation, Secret Manager, AI Gateway.

The package holds the parts; `main.py` at the repository root is the entry
point that functions-framework loads.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
