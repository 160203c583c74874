"""What diarize ships besides code, installed as ``diarize.data``: the sample recording, the result schema and
measured calibration tables; found with :func:`diarize.models.registry.data_path`."""
