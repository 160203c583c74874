"""Scoring outputs against references: the library behind ``diarize eval``.

- :mod:`~diarize.eval.scoring`: score files and folders (``evaluate``);
- :mod:`~diarize.eval.metrics`: DER and JER (pyannote.metrics); :mod:`~diarize.eval.words`: WER, WDER, cpWER;
- :mod:`~diarize.eval.scores`: score records that add up across files;
- :mod:`~diarize.eval.io`: reading RTTM, UEM, STM, SegLST and diarize JSON;
- :mod:`~diarize.eval.report`: JSON, CSV rows and text tables.
"""
