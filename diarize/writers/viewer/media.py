"""The viewer's player: the media element, where the page looks for the media, and what the browser must decode.

The page tries, in order, the media's file name beside the page (the page and the media moved together), its
path relative to the output folder (as written), and its absolute ``file:`` URL (the page moved alone); a
``HtmlOptions.media_href`` comes first, and ``HtmlOptions.embed_media`` puts the media inside the page as a
``data:`` URI instead. For each stream the page asks the browser's ``canPlayType`` about the probed codec
(:data:`CODECS`: FFmpeg's codec name → a readable name and an RFC 6381 type) and says when it cannot decode
it, naming the codec and the command that converts the file.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import shlex
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from diarize.types import Result
from diarize.writers.options import HtmlOptions

__all__ = ["CODECS", "media_href", "player"]

logger = logging.getLogger(__name__)

_MIME = {
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac",
    ".webm": "video/webm", ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
}

_PCM = ("PCM", 'audio/wav; codecs="1"')
CODECS: dict[str, tuple[str, str]] = {
    "h264": ("H.264", 'video/mp4; codecs="avc1.42E01E"'),
    "hevc": ("H.265/HEVC", 'video/mp4; codecs="hvc1.1.6.L93.B0"'),
    "av1": ("AV1", 'video/mp4; codecs="av01.0.05M.08"'),
    "vp8": ("VP8", 'video/webm; codecs="vp8"'),
    "vp9": ("VP9", 'video/webm; codecs="vp9"'),
    "theora": ("Theora", 'video/ogg; codecs="theora"'),
    "mpeg4": ("MPEG-4 Part 2", 'video/mp4; codecs="mp4v.20.8"'),
    "mpeg2video": ("MPEG-2 video", 'video/mp4; codecs="mp4v.61"'),
    "mpeg1video": ("MPEG-1 video", 'video/mp4; codecs="mp4v.6B"'),
    "aac": ("AAC", 'audio/mp4; codecs="mp4a.40.2"'),
    "mp3": ("MP3", "audio/mpeg"),
    "opus": ("Opus", 'audio/webm; codecs="opus"'),
    "vorbis": ("Vorbis", 'audio/ogg; codecs="vorbis"'),
    "flac": ("FLAC", "audio/flac"),
    "alac": ("ALAC", 'audio/mp4; codecs="alac"'),
    "ac3": ("AC-3", 'audio/mp4; codecs="ac-3"'),
    "eac3": ("E-AC-3", 'audio/mp4; codecs="ec-3"'),
    "pcm_u8": _PCM, "pcm_s16le": _PCM, "pcm_s24le": _PCM, "pcm_s32le": _PCM,
}
"""FFmpeg codec name → (name shown in the page, the type the page asks ``canPlayType`` about)."""


def media_href(source_path: str, out_dir: str | Path | None) -> str | None:
    """The URL the page (in ``out_dir``) uses for the media at ``source_path``: the relative path,
    percent-encoded; the absolute ``file:`` URL when ``out_dir`` is ``None`` or no relative path exists;
    ``None`` for a result without a source path."""
    if not source_path:
        return None
    absolute = Path(os.path.abspath(source_path))
    if out_dir is not None:
        try:
            relative = os.path.relpath(absolute, os.path.abspath(out_dir))
        except ValueError:  # another drive (Windows): no relative path
            return absolute.as_uri()
        return quote(PurePath(relative).as_posix(), safe="/")
    return absolute.as_uri()


def _sources(result: Result, options: HtmlOptions, out_dir: Path | None) -> list[str]:
    """Where the page looks for the media, in order, without repeats."""
    path = result.source.path
    found: list[str | None] = [options.media_href]
    if path:
        found += [quote(PurePath(path).name), media_href(path, out_dir), Path(os.path.abspath(path)).as_uri()]
    return [href for i, href in enumerate(found) if href and href not in found[:i]]


def _embedded(result: Result, options: HtmlOptions) -> str | None:
    path = Path(result.source.path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        logger.warning("%s: cannot embed the media (%s); the page links it instead", path, exc.strerror)
        return None
    if size > options.embed_max_bytes:
        logger.warning("%s: %.1f MiB is over the html embed limit (%.1f MiB); the page links it instead",
                       path, size / 2**20, options.embed_max_bytes / 2**20)
        return None
    default = "video/mp4" if result.source.video is not None else "audio/wav"
    mime = _MIME.get(path.suffix.lower(), default)
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _codecs(result: Result) -> list[dict[str, str]]:
    streams = [("audio", result.source.codec)]
    if result.source.video is not None:
        streams.insert(0, ("video", result.source.video.codec))
    out = []
    for stream, codec in streams:
        if codec:
            name, probe = CODECS.get(codec, (codec, ""))
            out.append({"stream": stream, "codec": codec, "name": name, "probe": probe})
    return out


def _transcode(result: Result) -> str:
    """The FFmpeg command that makes a file every browser plays (H.264 + AAC, or AAC alone)."""
    path = PurePath(result.source.path or "input")
    if result.source.video is not None:
        return f"ffmpeg -i {shlex.quote(path.name)} -c:v libx264 -c:a aac {shlex.quote(path.stem + '.web.mp4')}"
    return f"ffmpeg -i {shlex.quote(path.name)} -vn -c:a aac {shlex.quote(path.stem + '.web.m4a')}"


def player(result: Result, options: HtmlOptions, out_dir: Path | None) -> tuple[str, dict[str, Any]]:
    """The player element and the page's ``media`` entry.

    The element is a ``<video>`` (at the picture's aspect ratio) or an ``<audio>``; its ``src`` is the first
    place the page looks, or the media itself with ``embed_media``. The entry holds the kind, the file name,
    the ``sources`` to try in order (none when the media is inside the page), each stream's codec with its
    ``canPlayType`` type, the picture size and the FFmpeg command that converts the file.
    """
    video = result.source.video
    embedded = _embedded(result, options) if options.embed_media and result.source.path else None
    sources = [] if embedded else _sources(result, options, out_dir)
    data = {
        "kind": "video" if video is not None else "audio",
        "name": PurePath(result.source.path).name,
        "embedded": embedded is not None,
        "sources": sources,
        "codecs": _codecs(result),
        "width": video.width if video is not None else 0,
        "height": video.height if video is not None else 0,
        "transcode": _transcode(result),
    }
    src = embedded or next(iter(sources), None)
    if not src:
        return '<p class="no-media">No media file is linked to this transcript.</p>', data
    if video is None:
        return f'<audio id="player" controls preload="metadata" src="{html.escape(src, quote=True)}"></audio>', data
    style = ""
    if video.width > 0 and video.height > 0:
        style = f' style="aspect-ratio: {video.width} / {video.height}; --ratio: {video.width / video.height:.4f}"'
    element = (f'<video id="player" controls preload="metadata" playsinline{style} '
               f'src="{html.escape(src, quote=True)}"></video>')
    return element, data
