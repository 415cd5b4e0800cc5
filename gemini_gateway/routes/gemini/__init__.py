"""The Gemini-native route: `models` (Gemini's request), `answers` (its answer and error shapes), `handler`."""
