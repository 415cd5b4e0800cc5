"""A Gemini proxy for apps: caller checks, validation, Secret Manager, AI Gateway.

The package holds the parts; `main.py` at the repository root is the entry
point that functions-framework loads.
"""

import sys

__all__ = ["__version__"]

# httpx imports its command-line tool (rich, pygments, click) whenever they are installed, ~80 ms of a
# cold start for a tool this function never runs; marking it absent makes httpx skip it, as it does when
# they are not installed.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"
