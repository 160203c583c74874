"""The channel options: mix the channels, pick one, or split them into one party each (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diarize.errors import ConfigError
from diarize.strict import check_choice

__all__ = ["CHANNEL_USES", "ChannelOptions", "parse_channel_use"]

CHANNEL_USES = ("mix", "split")
"""The named ways to use a recording's channels; a channel number (from 0) is the third."""

_MAX_CHANNELS = 512  # diarize.audio.CHANNEL_RANGE's upper end (audio.py loads PyAV; this module stays light)


@dataclass(frozen=True)
class ChannelOptions:
    """How a recording's audio channels are used (rules in :mod:`diarize.channels`)."""

    use: Literal["mix", "split"] | int = "mix"
    """``mix``: the channels' plain mean, one signal (the default); ``split``: every channel is its own party,
    transcribed on its own and attributed to its own speaker (``CH0``, ``CH1``, …); a number: that channel
    alone, numbered from 0."""

    max_split: int = 8
    """Most channels ``split`` takes; a file with more is refused (each channel costs a mono decode's memory
    and its own transcription)."""

    within_db: float = 12.0
    """``split``: a channel's frame is its own speech only where its energy is within this many dB of the
    loudest channel's in that frame; quieter frames are the other parties' cross-talk and are silenced."""

    frame: float = 0.02
    """``split``: length (s) of the frames whose energies are compared."""

    diarize: bool = False
    """``split``: also tell speakers apart inside each channel (several people on one line), labelled with
    the channel (``CH1_SPEAKER_00``); off: one speaker per channel."""

    def __post_init__(self) -> None:
        if isinstance(self.use, bool) or not isinstance(self.use, (int, str)):
            raise ConfigError(f"channels.use: {self.use!r} is not mix, split or a channel number (from 0)")
        if isinstance(self.use, int):
            if not 0 <= self.use < _MAX_CHANNELS:
                raise ConfigError(f"channels.use: channel {self.use} is out of range (channels are numbered "
                                  f"0–{_MAX_CHANNELS - 1})")
        else:
            check_choice("channels.use", self.use, CHANNEL_USES)
        if not 1 <= self.max_split <= _MAX_CHANNELS:
            raise ConfigError(f"channels.max_split must lie in 1–{_MAX_CHANNELS}, got {self.max_split}")
        if not 0.0 < self.within_db <= 60.0:
            raise ConfigError(f"channels.within_db must lie in (0, 60] dB, got {self.within_db}")
        if not 0.005 <= self.frame <= 0.1:
            raise ConfigError(f"channels.frame must lie in 0.005–0.1 s, got {self.frame}")

    @property
    def channel(self) -> int | None:
        """The one channel to decode, or ``None`` (mixed or split)."""
        return self.use if isinstance(self.use, int) else None

    @property
    def split(self) -> bool:
        return self.use == "split"


def parse_channel_use(text: str) -> str | int:
    """``"mix"``, ``"split"`` or a channel number (``"1"`` → 1), as given on a command line."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value)
    if value in CHANNEL_USES:
        return value
    raise ConfigError(f"channels: {text!r} is not mix, split or a channel number (from 0)")
