"""Speed and memory per stage and end to end: the library behind ``diarize bench``.

- :mod:`~diarize.bench.benchmark`: the benchmark (``bench``);
- :mod:`~diarize.bench.measure`: timing pipeline passes;
- :mod:`~diarize.bench.baselines` and :mod:`~diarize.bench.child`: reference implementations, each in its own
  process;
- :mod:`~diarize.bench.report`: the JSON document and the terminal table.
"""
