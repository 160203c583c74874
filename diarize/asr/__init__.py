"""Stage 2, transcription: Whisper on the speech regions, with word timestamps.

- :mod:`~diarize.asr.transcription`: the stage (``transcribe``) and its options;
- :mod:`~diarize.asr.backends`: faster-whisper and openai-whisper behind one interface;
- :mod:`~diarize.asr.guards`: what is kept of a decoder's output, and its times on the original timeline;
- :mod:`~diarize.asr.features`: Whisper encoder features of a whole recording.
"""
