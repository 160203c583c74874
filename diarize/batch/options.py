"""Options of a batch run: engine, workers, retries, resume policy and archive limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from diarize.errors import ConfigError
from diarize.strict import check_choice

__all__ = ["ArchiveLimits", "BatchOptions", "EngineName"]

EngineName = Literal["local", "ray"]


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what the ``.zip``/``.tar`` inputs of a run may unpack to (a guard against archive bombs).

    Members are hashed in place when the inputs are found and unpacked one at a time, only while they are
    processed (see :mod:`diarize.batch.archives`). A member over a limit is recorded as failed before its data
    is read; an archive with too many members is one failed input.
    """

    max_members: int = 10_000
    """Most entries (files, folders, links) one archive may hold (``--archive-max-members``)."""

    max_member_bytes: int = 2**30
    """Most bytes one member may unpack to (1 GiB; ``--archive-max-mib``). Each busy worker holds at most one
    unpacked member on disk."""

    max_total_bytes: int = 20 * 2**30
    """Most bytes the media members of all archives of one run may unpack to together (20 GiB;
    ``--archive-total-mib``)."""

    min_free_bytes: int = 256 * 2**20
    """Free space that must remain on the output folder's disk after a member is unpacked (256 MiB); a member
    that does not fit waits for the others on disk to finish, and fails when it is alone."""

    def __post_init__(self) -> None:
        for name in ("max_members", "max_total_bytes", "max_member_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"archive limit {name} must be at least 1, got {getattr(self, name)}")
        if self.min_free_bytes < 0:
            raise ConfigError(f"archive limit min_free_bytes must be 0 or more, got {self.min_free_bytes}")


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs; the pipeline configuration itself is passed separately."""

    engine: EngineName = "local"
    """``local`` (a pool of worker processes on this machine) or ``ray`` (Ray actors)."""

    workers: int = 1
    """Worker processes (or Ray actors); each loads the models once and holds them (about 1 GiB each)."""

    address: str | None = None
    """Ray cluster address: the head's ``host:port`` (the driver runs on a node of the cluster), ``auto``, or
    ``ray://host:10001`` (Ray Client); ``None`` starts a private local Ray."""

    retries: int = 1
    """Extra attempts for a file whose worker crashed, timed out or hit an unexpected error. Input errors
    (undecodable media, bad hints) are not retried: they would fail the same way."""

    timeout: float | None = None
    """Wall seconds one attempt on one file may take (models already loaded); ``None`` for no limit."""

    resume: bool = True
    """Skip inputs that an earlier run finished with the same configuration and whose outputs are intact."""

    force: bool = False
    """Allow a run whose pipeline configuration differs from the one that made this folder's results (they
    are then re-processed); without it such a run is refused."""

    formats: tuple[str, ...] | None = None
    """Output formats; ``None`` takes the pipeline's."""

    cores: int | None = None
    """CPU cores to share among the workers; ``None`` counts the cores this process may use (affinity and
    cgroup quota, :mod:`diarize.cores`)."""

    threads: int | None = None
    """Cores each worker uses, shared by its transcription and speaker stages (``--threads``); ``None``:
    ``cores // workers``. Workers are capped so that workers × threads never exceed ``cores`` (one worker
    may use more); on a Ray cluster (``address``) the cluster's scheduler places them instead."""

    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    """Limits on what archive inputs unpack to (per member, per archive, and for the whole run)."""

    cache_dir: Path | None = None
    """Model cache folder for the workers (``None``: ``$DIARIZE_CACHE`` or the user cache)."""

    ray_object_store_bytes: int = 200 * 2**20
    """Object store size of a private local Ray (results are small; the inputs are read from disk)."""

    def __post_init__(self) -> None:
        check_choice("engine", self.engine, EngineName)
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.retries < 0:
            raise ConfigError(f"retries must be 0 or more, got {self.retries}")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {self.timeout}")
        if self.cores is not None and self.cores < 1:
            raise ConfigError(f"cores must be at least 1, got {self.cores}")
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise ConfigError(f"threads must lie in [1, 256], got {self.threads}")
        if self.address is not None and self.engine != "ray":
            raise ConfigError("a Ray address needs the ray engine (--engine ray)")
