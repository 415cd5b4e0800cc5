"""What the Gemini-native route answers: Gemini's own response (documented), and Google's error shape."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from ...model_base import Doc

__all__ = ["CountTokensResponse", "GenerateContentResponse", "GoogleErrorBody"]


class _Open(Doc):
    """Gemini adds fields often: the document names the ones callers read and allows the rest."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class ResponsePart(_Open):
    text: str | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None
    inlineData: dict[str, Any] | None = None
    functionCall: dict[str, Any] | None = None  # {id?, name, args?}; the part's thoughtSignature goes back with it
    executableCode: dict[str, Any] | None = None
    codeExecutionResult: dict[str, Any] | None = None


class ResponseContent(_Open):
    role: str | None = None
    parts: list[ResponsePart] | None = None


class Candidate(_Open):
    content: ResponseContent | None = None
    finishReason: str | None = None
    finishMessage: str | None = None
    index: int | None = None
    safetyRatings: list[dict[str, Any]] | None = None
    groundingMetadata: dict[str, Any] | None = None  # googleSearch
    urlContextMetadata: dict[str, Any] | None = None  # urlContext


class PromptFeedback(_Open):
    blockReason: str | None = None
    safetyRatings: list[dict[str, Any]] | None = None


class UsageMetadata(_Open):
    promptTokenCount: int | None = None
    candidatesTokenCount: int | None = None
    thoughtsTokenCount: int | None = None
    cachedContentTokenCount: int | None = None
    totalTokenCount: int | None = None


class GenerateContentResponse(_Open):
    """Gemini's `GenerateContentResponse`, passed through as the upstream sent it (one per stream record)."""

    candidates: list[Candidate] | None = None
    promptFeedback: PromptFeedback | None = None
    usageMetadata: UsageMetadata | None = None
    modelVersion: str | None = None
    responseId: str | None = None


class GeminiModalityTokenCount(_Open):
    modality: str | None = None
    tokenCount: int | None = None


class CountTokensResponse(_Open):
    """Gemini's `countTokens` answer, passed through as the upstream sent it (proto3 JSON leaves out zeros)."""

    totalTokens: int | None = None
    cachedContentTokenCount: int | None = None
    promptTokensDetails: list[GeminiModalityTokenCount] | None = None
    cacheTokensDetails: list[GeminiModalityTokenCount] | None = None


class GoogleError(Doc):
    code: int
    message: str
    status: str
    details: list[dict[str, Any]] | None = None


class GoogleErrorBody(Doc):
    """Errors on the Gemini-native route, in Google's shape."""

    error: GoogleError
