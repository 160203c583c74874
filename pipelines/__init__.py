"""Named pipeline configurations (YAML), installed as ``diarize.pipelines``; see :mod:`diarize.config`."""
