"""Options of the speaker stage (:func:`diarize.speakers.diarization.diarize`): plain data, no torch.

Everything a pipeline file's ``speakers:`` section can set, with the measured defaults. Importing this module
imports neither torch nor pyannote.audio, so configurations load and validate without the model stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from diarize.errors import ConfigError
from diarize.speakers.turns import EXCLUSIVE_RULES, ExclusiveRule
from diarize.strict import check_choice

__all__ = [
    "CLUSTERING_METHODS",
    "DEFAULT_THRESHOLDS",
    "EMBEDDING_MODELS",
    "LINKAGES",
    "RUNTIMES",
    "WINDOW",
    "ClusteringMethod",
    "EmbeddingModel",
    "Linkage",
    "Runtime",
    "SpeakerOptions",
]

EmbeddingModel = Literal["campplus", "ge2e"]
EMBEDDING_MODELS: tuple[str, ...] = get_args(EmbeddingModel)
"""Names of the speaker embedding networks the stage can use."""

Runtime = Literal["onnx", "torch"]
RUNTIMES: tuple[str, ...] = get_args(Runtime)
"""Values of :attr:`SpeakerOptions.runtime`."""

ClusteringMethod = Literal["auto", "constrained", "agglomerative", "vbx"]
CLUSTERING_METHODS: tuple[str, ...] = get_args(ClusteringMethod)
"""Values of :attr:`SpeakerOptions.clustering`."""

Linkage = Literal["average", "centroid", "complete", "median", "single", "ward", "weighted"]
LINKAGES: tuple[str, ...] = get_args(Linkage)
"""scipy linkage methods :attr:`SpeakerOptions.linkage` may name (agglomerative clustering)."""

WINDOW = 10.0
"""Seconds of audio the segmentation model analyses at once (pyannote segmentation-3.0)."""

_AUTO_CLUSTERING = {"campplus": "constrained", "ge2e": "agglomerative"}

DEFAULT_THRESHOLDS: dict[tuple[str, str], float] = {
    ("campplus", "constrained"): 0.6,
    ("ge2e", "constrained"): 0.3,
    ("campplus", "agglomerative"): 0.85,
    ("ge2e", "agglomerative"): 0.5,
    ("campplus", "vbx"): 0.8,
    ("ge2e", "vbx"): 0.8,
}
"""Clustering thresholds. Constrained: chosen by 2-fold cross-validation over pyannote's sample, nine AMI
excerpts, a simulated conversation and each fold's concatenation (DER plus one point per speaker-count
error); GE2E's is the best of a sweep on the same files. Agglomerative and VBx: measured on pyannote's
sample, three AMI excerpts, the simulated conversation and a 10-minute concatenation
(``diarize dev tune sweep``)."""


@dataclass(frozen=True)
class SpeakerOptions:
    """Everything that decides the speaker stage's output; defaults measured on AMI and pyannote's sample."""

    embedding_model: EmbeddingModel = "campplus"
    """Speaker embedding network: ``"campplus"`` (3D-Speaker CAM++, 192-dim, default) or ``"ge2e"``
    (resemblyzer's GE2E, 256-dim; less accurate, kept as a fallback)."""

    runtime: Runtime = "onnx"
    """Where CAM++ runs: ``"onnx"`` (ONNX Runtime on its export, prepared once in the model cache; the same
    embeddings to float rounding at a fraction of the time, :mod:`diarize.speakers.nets.onnx`) or ``"torch"``.
    GE2E always runs in torch."""

    step: float = 1.0
    """Seconds between successive 10 s analysis windows; each second of speech is embedded ``10 / step``
    times, so time grows as ``1 / step``. 2.0 halves the time; DER rose by 0.3 points on a 10-minute test
    and by 1.5 on 30 s excerpts, and clips of a few seconds get too few windows."""

    clustering: ClusteringMethod = "auto"
    """``"auto"`` (default): ``"constrained"`` for CAM++, ``"agglomerative"`` for GE2E (with GE2E,
    constrained clustering lowered AMI DER from 32.7 to 27.4 % but found a third speaker in pyannote's
    two-speaker sample). ``"constrained"``: average linkage on cosine distance over the local speakers with
    enough clean speech, the local speakers of one window then assigned to different speakers
    (:mod:`diarize.speakers.clustering`); ``"agglomerative"``
    (pyannote's centroid linkage) or ``"vbx"`` (pyannote's VB-HMM clustering with a length-normalising
    stand-in PLDA: no PLDA trained for CAM++/GE2E ships, so it is experimental)."""

    threshold: float | None = None
    """Constrained: average-linkage cosine distance at which merging stops (higher → fewer speakers).
    Agglomerative: Euclidean threshold between centroids of unit embeddings below which clusters merge.
    VBx: Euclidean threshold (unit vectors) of its agglomerative initialisation. ``None``: the measured
    default of the embedding model and method (:data:`DEFAULT_THRESHOLDS`)."""

    min_clean: float = 1.0
    """Constrained: seconds a local speaker must talk alone in its window for its embedding to shape the
    clusters (shorter ones are only assigned to them)."""

    min_speech: float = 1.0
    """Constrained: distinct seconds of single-speaker speech a cluster needs to count as a speaker."""

    cannot_link: bool = False
    """Constrained: never merge clusters holding two local speakers of one window while other merges are
    left (off: it raised DER on AMI and on concatenated meetings, see :mod:`diarize.speakers.clustering`)."""

    linkage: Linkage = "centroid"
    """Agglomerative only: linkage method (scipy): centroid, average, complete, single, ward, median, weighted."""

    min_cluster_size: int | None = None
    """Agglomerative only: clusters with fewer embeddings are merged into the nearest large one.
    ``None``: ``round(6 / step)``, i.e. about 6 s of windows whatever the step (12 s merged real speakers who
    talk little on a 10-minute, 14-speaker test). pyannote lowers it to 10 % of the embeddings on short files."""

    constrained: bool = False
    """Agglomerative only: assign the local speakers of one window to different clusters (Hungarian matching)."""

    overlap_evidence: float = 1.0
    """Seconds during which segmentation hears ``n`` speakers at once that prove at least ``n`` distinct
    speakers (raising the minimum unless ``num_speakers`` is set); ``0`` turns this off. It keeps two people
    who only ever talk together from being merged into one."""

    exclude_overlap: bool = True
    """Embed each local speaker from the frames where it talks alone (when there are enough of them)."""

    min_duration_off: float = 0.0
    """Gaps shorter than this (s) inside one speaker's speech are filled."""

    min_duration_on: float = 0.1
    """Turns shorter than this (s) are merged into the neighbouring speaker's turn, or dropped when nobody
    speaks next to them (:func:`diarize.speakers.turns.absorb_short_runs`); ``0`` keeps every turn."""

    exclusive_rule: ExclusiveRule = "confident"
    """How the exclusive view picks one speaker in overlap: ``"confident"`` (most active) or ``"keep"``
    (whoever holds the floor keeps it)."""

    vbx_fa: float = 1.0
    """VBx only: scale of the embedding statistics (pyannote's 0.07 collapsed CAM++ to one or two
    speakers)."""

    vbx_fb: float = 1.0
    """VBx only: speaker regularisation; larger → fewer speakers."""

    vbx_between_class: float = 3.0
    """VBx only: between/within-speaker variance ratio of the stand-in PLDA."""

    num_speakers: int | None = None
    """Exact number of speakers, when known. Honoured exactly unless the audio holds fewer distinct local
    speakers (window, speaker pairs) than that, which is logged as a warning."""

    min_speakers: int | None = None
    """At least this many speakers (when the audio holds that many distinct voices)."""

    max_speakers: int | None = None
    """At most this many speakers."""

    embedding_batch_size: int = 32
    """(window, speaker) pairs embedded per batch; bounds memory on long audio."""

    segmentation_batch_size: int = 8
    """Windows segmented per batch (32 cost 300 MB more memory and ran no faster)."""

    num_threads: int = 0
    """CPU threads the stage uses; ``0`` sizes them from the cores available (:mod:`diarize.cores`). torch
    runs single-threaded while the stage runs (restored afterwards) and this many (window, speaker) embeddings
    are computed side by side: no OpenMP thread spins waiting for another, which on a busy 2-core machine
    slowed multi-threaded torch 10×. Segmentation uses one thread."""

    def __post_init__(self) -> None:
        check_choice("speakers.embedding_model", self.embedding_model, EMBEDDING_MODELS)
        check_choice("speakers.clustering", self.clustering, CLUSTERING_METHODS)
        check_choice("speakers.exclusive_rule", self.exclusive_rule, EXCLUSIVE_RULES)
        check_choice("speakers.linkage", self.linkage, LINKAGES)
        check_choice("speakers.runtime", self.runtime, RUNTIMES)
        if self.min_duration_on < 0 or self.min_duration_off < 0:
            raise ConfigError("min_duration_on and min_duration_off must be at least 0 s")
        if self.min_clean < 0 or self.min_speech < 0:
            raise ConfigError(f"min_clean and min_speech must be at least 0 s, got {self.min_clean}, {self.min_speech}")
        if not 0.0 < self.step <= WINDOW:
            raise ConfigError(f"speaker step must lie in (0, {WINDOW:g}] s, got {self.step}")
        for name in ("num_speakers", "min_speakers", "max_speakers", "min_cluster_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if not 0 <= self.num_threads <= 256:
            raise ConfigError(f"speakers num_threads must lie in [0, 256] (0: automatic), got {self.num_threads}")
        if self.embedding_batch_size < 1 or self.segmentation_batch_size < 1:
            raise ConfigError("speaker batch sizes must be at least 1")
        lo, hi = self.min_speakers, self.max_speakers
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"min_speakers ({lo}) is larger than max_speakers ({hi}): lower one of them")
        if self.num_speakers is not None and not (lo or 1) <= self.num_speakers <= (hi or self.num_speakers):
            raise ConfigError(f"num_speakers ({self.num_speakers}) contradicts min/max_speakers ({lo}, {hi})")

    @property
    def speaker_bounds(self) -> tuple[int, float]:
        """``(min, max)`` number of speakers the output must have (``max`` may be infinite)."""
        if self.num_speakers is not None:
            return self.num_speakers, self.num_speakers
        return self.min_speakers or 1, float(self.max_speakers) if self.max_speakers else float("inf")

    @property
    def cluster_threshold(self) -> float:
        """``threshold``, or the default for this embedding model and clustering method."""
        if self.threshold is not None:
            return self.threshold
        return DEFAULT_THRESHOLDS[(self.embedding_model, self.clustering_method)]

    @property
    def clustering_method(self) -> str:
        """``clustering`` with ``"auto"`` resolved for the embedding model."""
        return _AUTO_CLUSTERING[self.embedding_model] if self.clustering == "auto" else self.clustering

    @property
    def cluster_size(self) -> int:
        return self.min_cluster_size if self.min_cluster_size is not None else max(1, round(6.0 / self.step))
