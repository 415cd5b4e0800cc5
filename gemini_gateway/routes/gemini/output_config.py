"""`generationConfig.imageConfig` and `speechConfig`: only the fields the Gemini API documents, nothing else forwarded.

Both configure an output beyond text, so a request carrying either needs that
modality allowed (freeform/controls.py). Fields the Gemini API does not take
(Vertex AI's) are refused by name.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ...model_base import field_error
from .wire import Wire

__all__ = ["ImageConfig", "SpeechConfig"]


class ImageConfig(Wire):
    unsupported = (  # Vertex AI only
        "personGeneration",
        "prominentPeople",
        "outputMimeType",
        "outputCompressionQuality",
        "imageOutputOptions",
    )

    aspect_ratio: Annotated[str | None, Field(pattern=r"^[0-9]{1,2}:[0-9]{1,2}$")] = None  # "16:9"
    image_size: Annotated[str | None, Field(pattern=r"^[0-9]{1,4}K?$")] = None  # "1K", "2K", "4K"


class PrebuiltVoiceConfig(Wire):
    voice_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class VoiceConfig(Wire):
    unsupported = ("replicatedVoiceConfig",)  # a voice cloned from audio the caller uploads: not forwarded

    prebuilt_voice_config: PrebuiltVoiceConfig


class SpeakerVoiceConfig(Wire):
    speaker: Annotated[str, Field(min_length=1, max_length=64)]
    voice_config: VoiceConfig


class MultiSpeakerVoiceConfig(Wire):
    speaker_voice_configs: Annotated[list[SpeakerVoiceConfig], Field(min_length=1, max_length=2)]


class SpeechConfig(Wire):
    voice_config: VoiceConfig | None = None
    multi_speaker_voice_config: MultiSpeakerVoiceConfig | None = None
    language_code: Annotated[str | None, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")] = None

    @model_validator(mode="after")
    def _one_voice_kind(self) -> SpeechConfig:
        if self.voice_config is not None and self.multi_speaker_voice_config is not None:
            raise field_error("multiSpeakerVoiceConfig", "give voiceConfig or multiSpeakerVoiceConfig, not both")
        return self
