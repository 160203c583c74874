"""Channels: mix a recording's audio channels, pick one, or split them into one party each.

Call and podcast recordings often put each party on a channel of their own. ``channels.use`` (``diarize run
--channels mix|split|N``, :class:`ChannelOptions`) says what to do with them:

- ``mix`` (the default): the plain mean of the channels, one signal (:mod:`diarize.audio`, rule 4).
- a channel number ``N``, counted from 0: that channel alone (:mod:`diarize.audio`, rule 6), through the usual
  pipeline; a file without channel ``N`` is refused before any model loads. Segments and turns record it.
  Audio already decoded (:class:`~diarize.types.Audio`, one signal) is taken as that channel; ``split`` needs
  the file itself.
- ``split``: every channel (at most ``channels.max_split``) is its own party. The rules:

1. **Frames.** The channels, decoded one by one at 16 kHz, are cut into frames of ``channels.frame`` seconds
   (20 ms); a frame's energy is its mean square in dB (floored at −100 dBFS).
2. **Dominance.** A channel's frame holds its own speech when its energy is within ``channels.within_db``
   (12 dB) of the loudest channel's in that frame. Cross-talk (the other party heard faintly through this
   party's microphone, typically 20 dB down) never comes that close while its own talker is heard louder on
   their own channel; when both parties talk at once each is loud on their own channel, so both frames count.
   The loudest channel always counts, and a frame silent everywhere counts on every channel.
3. **Suppression.** Every other frame is silenced: the gain is 1 on frames that count and 0 elsewhere, moving
   linearly between frame centres. Each channel then goes through the usual stages on its own.
4. **Stages per channel.** VAD and ASR run on each cleaned channel (the language is detected per channel; the
   result's language is that of the channel with the most words). Every ASR segment records its ``channel``.
5. **Speakers.** Every word of channel ``c`` belongs to speaker ``CHc``; its turns are the runs of the
   channel's words without a pause of ``assign.sentence_pause`` or more (first word start to last word end).
6. **Several people on one channel.** With ``channels.diarize`` the speaker stage runs on each cleaned channel
   instead, words are attributed as :mod:`diarize.assign` does, and the channel's speakers are named with it:
   ``CH1_SPEAKER_00``.
7. **Merging.** Sentences (:mod:`diarize.assign` rules 3–5, within each channel) are merged in time order;
   turns keep their channel; speakers are listed channel by channel.
8. **Overlap.** Where turns of different channels meet, both parties talk: the turns overlap in time and a word
   with at least ``assign.overlap_fraction`` of it in such a region is marked ``overlap``.
9. **RTTM.** The RTTM channel column stays 1 for every turn, as in the references pyannote.metrics and md-eval
   score against (they match a hypothesis to a reference by file and channel); the JSON records each turn's
   and segment's ``channel``.
"""

from diarize.channels.bleed import dominance, suppress_bleed
from diarize.channels.options import CHANNEL_USES, ChannelOptions, parse_channel_use

__all__ = ["CHANNEL_USES", "ChannelOptions", "dominance", "parse_channel_use", "suppress_bleed"]
