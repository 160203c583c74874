"""What the viewer tests share: results to render, test media, and an open page in headless Chromium
(Playwright driving Debian's ``/usr/bin/chromium``, or ``$DIARIZE_CHROMIUM``; :func:`chromium` skips without
either)."""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from diarize.types import MediaInfo, Result, Segment, SpeakerTurn, VideoInfo, Word
from diarize.writers.timeline import overlap_spans
from diarize.writers.viewer.exports import unpack

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NOT_FOUND = "Failed to load resource: net::ERR_FILE_NOT_FOUND"
CHROMIUM = os.environ.get("DIARIZE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# --- results to render -----------------------------------------------------------------------------------


def simconv_result(data: Path, media: Path) -> Result:
    """The reference of ``meetings/simconv_en_text.wav`` as a Result: turns from the RTTM, words from the
    SegLST text spread evenly over each utterance, labels ``SPEAKER_00``… in order of first appearance."""
    rttm = [line.split() for line in (data / "simconv_en_text.rttm").read_text().splitlines() if line.strip()]
    labels: dict[str, str] = {}
    for fields in rttm:
        labels.setdefault(fields[7], f"SPEAKER_{len(labels):02d}")
    turns = tuple(
        SpeakerTurn(float(f[3]), round(float(f[3]) + float(f[4]), 3), labels[f[7]]) for f in rttm
    )
    overlaps = overlap_spans(turns)
    segments = []
    for item in json.loads((data / "simconv_en_text.seglst.json").read_text()):
        tokens = item["words"].lower().split()
        step = (item["end_time"] - item["start_time"]) / len(tokens)
        speaker = labels[item["speaker"]]
        words = []
        for i, token in enumerate(tokens):
            start = round(item["start_time"] + i * step, 3)
            end = round(item["start_time"] + (i + 1) * step, 3)
            overlap = any(a < end and b > start for a, b in overlaps)
            words.append(Word(start, end, " " + token, 0.9, speaker, overlap))
        segments.append(Segment(words[0].start, words[-1].end, " ".join(tokens), tuple(words), speaker))
    segments.sort(key=lambda s: s.start)
    source = MediaInfo(str(media), 31.192, 16000, 1, "pcm_s16le", "wav")
    return Result(source, "en", tuple(labels.values()), turns, tuple(segments))


def long_meeting(hours: float = 2.0, speakers: int = 6, seed: int = 7) -> Result:
    """A generated meeting: one-speaker sentences of 8-40 words, sometimes overlapping the next one."""
    rng = random.Random(seed)
    vocab = ["the", "a", "we", "to", "and", "of", "project", "budget", "meeting", "plan", "next", "quarter",
             "design", "team", "think", "yes", "so", "right", "okay", "data", "model", "release", "customer",
             "feedback", "week", "time", "really"]
    labels = tuple(f"SPEAKER_{i:02d}" for i in range(speakers))
    t, turns, segments = 0.5, [], []
    while t < hours * 3600 - 10:
        speaker, start, words = rng.choice(labels), t, []
        for _ in range(rng.randint(8, 40)):
            length = rng.uniform(0.18, 0.4)
            words.append(Word(round(t, 3), round(t + length, 3), " " + rng.choice(vocab), 0.9, speaker))
            t += length + rng.uniform(0.0, 0.08)
        segments.append(Segment(start, words[-1].end, "".join(w.text for w in words), tuple(words), speaker))
        turns.append(SpeakerTurn(start, words[-1].end, speaker))
        t = max(start + 0.5, t + rng.uniform(-0.6, 1.2))
    source = MediaInfo("meeting.wav", hours * 3600, 16000, 1, "pcm_s16le", "wav")
    return Result(source, "en", labels, tuple(turns), tuple(segments))


def tiny_result(texts: list[str], path: str = "/in/talk.wav") -> Result:
    words = tuple(Word(0.5 + i, 1.2 + i, " " + text, 0.9, "SPEAKER_00") for i, text in enumerate(texts))
    segment = Segment(words[0].start, words[-1].end, " ".join(texts), words, "SPEAKER_00")
    return Result(MediaInfo(path, 10.0, 16000, 1, "pcm_s16le", "wav"), "en", ("SPEAKER_00",),
                  (SpeakerTurn(0.5, words[-1].end, "SPEAKER_00"),), (segment,))


def page_data(page: str) -> dict[str, Any]:
    blob = re.search(r'<script id="diarize-data" type="application/json">(.*?)</script>', page, re.S)
    assert blob is not None
    return json.loads(blob.group(1))  # type: ignore[no-any-return]


def page_exports(page: str) -> dict[str, str]:
    blob = re.search(r'<script id="diarize-exports" type="text/plain">(.*?)</script>', page, re.S)
    assert blob is not None
    return unpack(blob.group(1))


def make_video(path: Path, codec: str, seconds: float = 2.0) -> Path:
    """A 320x180, 25 fps video in ``codec`` (``libx264``, ``mpeg4``...) with a 440 Hz AAC tone, made with PyAV."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=25)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        for i in range(int(seconds * 25)):
            picture = np.full((180, 320, 3), (40 + 4 * i) % 255, np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(video.encode())
        t = np.arange(int(seconds * 16000)) / 16000
        tone = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :],
                                          format="fltp", layout="mono")
        tone.sample_rate = 16000
        container.mux(audio.encode(tone))
        container.mux(audio.encode())
    return path


def as_video(result: Result, media: Path, codec: str = "h264") -> Result:
    """``result`` as the transcript of the 320x180 video ``media`` whose picture is in ``codec``."""
    video = VideoInfo(Fraction(25), 50, 320, 180, 2.0, codec)
    source = MediaInfo(str(media), result.source.duration, 16000, 1, "aac", "mov,mp4,m4a,3gp,3g2,mj2", video)
    return Result(source, result.language, result.speakers, result.turns, result.segments)

def meeting_video(folder: Path, codec: str = "libx264", hours: float = 0.01, speakers: int = 3) -> Result:
    """A generated meeting transcript (36 s by default) of a 2 s video made in ``folder``."""
    media = make_video(folder / "clip.mp4", codec)
    return as_video(long_meeting(hours=hours, speakers=speakers), media, "mpeg4" if codec == "mpeg4" else "h264")



# --- the browser ----------------------------------------------------------------------------------------


def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh headless Chromium (its own profile) driven by Playwright, for a module-scoped fixture; skips when
    either is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


class Page:
    """An open viewer page, with what it logged and requested."""

    def __init__(self, context: Any, path: Path, width: int | None = None) -> None:
        self.page = context.new_page()
        if width is not None:
            self.page.set_viewport_size({"width": width, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        started = time.perf_counter()
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("html[data-ready=true]", timeout=30_000)
        self.page.evaluate("0")  # the main thread answers: the page is interactive
        self.seconds = time.perf_counter() - started

    def wait_for(self, expression: str, timeout: float = 10.0) -> None:
        """Poll a JavaScript expression until it is true (``wait_for_function`` evaluates strings with
        ``eval``, which the page's Content-Security-Policy forbids)."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(expression):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            self.page.wait_for_timeout(20)

    def current_time(self) -> float:
        return float(self.page.evaluate("document.getElementById('player').currentTime"))

    def rename(self, index: int, name: str) -> None:
        self.page.fill(f'input[data-s="{index}"]', name)
        self.page.press(f'input[data-s="{index}"]', "Enter")

    def download(self, fmt: str, folder: Path) -> Path:
        """Click the page's ``fmt`` download button and save the file it gives into ``folder``."""
        with self.page.expect_download() as info:
            self.page.click(f'button[data-export="{fmt}"]')
        target = folder / info.value.suggested_filename
        info.value.save_as(target)
        return target

    def loaded(self) -> None:
        """Wait until the player has the media's metadata."""
        self.wait_for("document.getElementById('player').readyState >= 1")

    def plays_from(self) -> str:
        return str(self.page.evaluate("document.getElementById('player').currentSrc"))
