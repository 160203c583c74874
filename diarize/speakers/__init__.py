"""Stage 3, speakers: who spoke when, overlap included.

The stage is :func:`diarize.speakers.diarization.diarize` ``(audio, SpeakerOptions, SpeakerModels, hook)``
``-> Diarization``; it runs torch and pyannote.audio, so import it from its module. This package exports only
its options, which import neither:

- :mod:`~diarize.speakers.options`: :class:`SpeakerOptions`, the measured defaults, the allowed choices;
- :mod:`~diarize.speakers.diarization`: the stage (``diarize``), its models, and its steps for tuning
  (``analyse``, ``cluster``, ``build_diarization``);
- :mod:`~diarize.speakers.pyannote`: the pyannote.audio adapter (embedding plug-in, clustering, count bounds);
- :mod:`~diarize.speakers.clustering` and :mod:`~diarize.speakers.linkage`: constrained clustering, numpy/scipy;
- :mod:`~diarize.speakers.turns`: frame-level activity to speaker turns, pure numpy;
- :mod:`~diarize.speakers.embeddings`: loading the embedding networks of :mod:`~diarize.speakers.nets`;
- :mod:`~diarize.speakers.tuning`: tuning the stage on recordings with references.
"""

from diarize.speakers.options import SpeakerOptions

__all__ = ["SpeakerOptions"]
