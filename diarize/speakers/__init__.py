"""Stage 3, speakers: who spoke when, overlap included.

- :mod:`~diarize.speakers.diarization`: the stage (``diarize``), its options and models;
- :mod:`~diarize.speakers.pyannote`: the pyannote.audio adapter (embedding plug-in, clustering, count bounds);
- :mod:`~diarize.speakers.turns`: frame-level activity to speaker turns, pure numpy;
- :mod:`~diarize.speakers.embeddings`: loading the embedding networks of :mod:`~diarize.speakers.nets`;
- :mod:`~diarize.speakers.tuning`: tuning the stage on recordings with references.
"""
