"""Enrolled voices that name speakers.

- :mod:`~diarize.voices.enrol`: a voice's embedding from a clip or from a speaker of an earlier result;
- :mod:`~diarize.voices.library`: the voice library on disk;
- :mod:`~diarize.voices.naming`: matching speakers to voices;
- :mod:`~diarize.voices.calibrate`: calibrating the naming threshold on real recordings.
"""
