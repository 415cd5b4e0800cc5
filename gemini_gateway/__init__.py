"""A Gemini proxy for apps: caller checks, validation, Secret Manager, AI Gateway.

The package holds the parts; `main.py` at the repository root is the entry
point that functions-framework loads.
"""

import sys

__all__ = ["__version__"]

# httpx imports its command-line tool (rich, pygments, click) whenever they are installed: ~8% of
# start-up's instructions (callgrind, 2026-12-06) in a development environment, where the test tools
# bring rich (`make run`, the benchmarks). The deployed set has no rich, so there it changes nothing.
# Marking the module absent makes httpx skip it, as it does when they are not installed.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"
