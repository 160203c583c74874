"""Stage 2, transcription: Whisper on the speech regions, with word timestamps.

The stage is :func:`diarize.asr.transcription.transcribe` ``(audio, spans, model, AsrOptions, hook)``
``-> Transcript``, on a model the caller loads (``ModelCache.faster_whisper`` or ``openai_whisper`` of
:mod:`diarize.models.cache`). This package exports only its options, which import no decoder:

- :mod:`~diarize.asr.options`: :class:`AsrOptions` and its allowed choices;
- :mod:`~diarize.asr.transcription`: the stage (``transcribe``) and how speech is packed into windows;
- :mod:`~diarize.asr.language`: the language of each speech region, for meetings that switch language;
- :mod:`~diarize.asr.backends`: faster-whisper and openai-whisper behind one interface;
- :mod:`~diarize.asr.guards`: what is kept of a decoder's output, and its times on the original timeline;
- :mod:`~diarize.asr.features`: Whisper encoder features of a whole recording.
"""

from diarize.asr.options import AsrOptions

__all__ = ["AsrOptions"]
