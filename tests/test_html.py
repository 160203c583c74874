"""The HTML transcript viewer: the page's content and safety without a browser, then its behaviour in real
headless Chromium (Playwright driving Debian's ``/usr/bin/chromium``; those tests skip when either is absent):
playback, search, renaming, the video player and its captions, finding the media, the codec notice, the
layout at 1400 and 420 px, and the downloads with the names given in the page.

The browser tests save a screenshot of the viewer to ``test-artifacts/html-viewer.png`` in the repository root
(git-ignored); the layout test saves its screenshots in its ``tmp_path`` and copies them there
(``html-viewer-{audio,video}-{1400,420}.png``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path, PurePath
from typing import Any

import pytest

from diarize.cli.common import read_speaker_names
from diarize.errors import ConfigError
from diarize.types import MediaInfo, Result, Segment, SpeakerTurn, VideoInfo, Word
from diarize.writers import HtmlOptions, OutputContext, WriterOptions, rename_speakers, render, resolve_formats, write
from diarize.writers.html import render_html, viewer_data
from diarize.writers.timeline import overlap_spans
from diarize.writers.viewer.exports import MARKER_BASE, unpack
from diarize.writers.viewer.media import media_href

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


# --- the page without a browser ------------------------------------------------------------------------


def test_media_is_looked_for_beside_the_page_then_by_its_recorded_path(tmp_path: Path) -> None:
    media = tmp_path / "in put" / "talk #1.wav"
    assert media_href(str(media), tmp_path / "out") == "../in%20put/talk%20%231.wav"
    assert media_href(str(media), tmp_path / "in put") == "talk%20%231.wav"
    assert media_href(str(media), None) == media.as_uri()  # no output folder: absolute file URL
    assert media_href("", tmp_path) is None
    page = render_html(tiny_result(["hi"], str(media)), context=OutputContext(tmp_path / "out"))
    assert '<audio id="player" controls preload="metadata" src="talk%20%231.wav">' in page
    media_entry = page_data(page)["media"]
    assert media_entry["sources"] == ["talk%20%231.wav", "../in%20put/talk%20%231.wav", media.as_uri()]
    assert media_entry["codecs"] == [{"stream": "audio", "codec": "pcm_s16le", "name": "PCM",
                                      "probe": 'audio/wav; codecs="1"'}]
    beside = render_html(tiny_result(["hi"], str(media)), context=OutputContext(media.parent))
    assert page_data(beside)["media"]["sources"] == ["talk%20%231.wav", media.as_uri()]


def test_video_source_gets_a_video_player_at_its_aspect_ratio(tmp_path: Path) -> None:
    result = as_video(tiny_result(["hi"]), tmp_path / "my clip.mp4", "mpeg4")
    page = render_html(result, context=OutputContext(tmp_path))
    assert ('<video id="player" controls preload="metadata" playsinline '
            'style="aspect-ratio: 320 / 180; --ratio: 1.7778" src="my%20clip.mp4">') in page
    assert "<audio" not in page
    media = page_data(page)["media"]
    assert (media["kind"], media["width"], media["height"]) == ("video", 320, 180)
    assert [(c["stream"], c["name"], c["probe"]) for c in media["codecs"]] == [
        ("video", "MPEG-4 Part 2", 'video/mp4; codecs="mp4v.20.8"'), ("audio", "AAC", 'audio/mp4; codecs="mp4a.40.2"')]
    assert media["transcode"] == "ffmpeg -i 'my clip.mp4' -c:v libx264 -c:a aac 'my clip.web.mp4'"


def test_embed_media_inlines_small_files_and_links_large_ones(tmp_path: Path, caplog: Any) -> None:
    media = tmp_path / "talk.wav"
    media.write_bytes(b"RIFF0000WAVEfmt fake")
    result = tiny_result(["hi"], str(media))
    page = render_html(result, HtmlOptions(embed_media=True), OutputContext(tmp_path / "out"))
    assert f'src="data:audio/wav;base64,{base64.b64encode(media.read_bytes()).decode()}"' in page
    with caplog.at_level(logging.WARNING, logger="diarize.writers.html"):
        page = render_html(result, HtmlOptions(embed_media=True, embed_max_bytes=8), OutputContext(tmp_path))
    assert 'src="talk.wav"' in page
    assert "over the html embed limit" in caplog.text
    page = render_html(result, HtmlOptions(media_href="https://example.org/a.wav"), OutputContext(tmp_path))
    assert 'src="https://example.org/a.wav"' in page


def test_page_is_self_contained_and_only_its_own_script_may_run() -> None:
    page = render_html(tiny_result(["hello", "world"]))
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page and "@font-face" not in page
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    assert page.count("<script") == 3  # the viewer, its data and the downloadable texts (not script)
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    assert f"script-src 'sha256-{digest}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1)


def test_transcript_text_cannot_close_the_data_script() -> None:
    texts = ["<script>alert(1)</script>", "</script><script>alert(2)//", "a&b", "<!--", "x\u2028y",
             "{{script}}"]
    page = render_html(tiny_result(texts, "/in/<b>&.wav"))
    body = page.split('<script id="diarize-data"', 1)[1]
    blob = body.split("</script>", 1)[0]
    assert "<" not in blob.split(">", 1)[1] and "&" not in blob  # nothing that HTML could read as markup
    assert page.count("<script") == 3  # the data blob, the downloads and the viewer, nothing injected
    assert page_data(page)["words"]["t"] == texts  # ... and the JSON still carries the exact text
    assert "<title>&lt;b&gt;&amp;.wav · transcript</title>" in page


def test_viewer_data_groups_turns_and_keeps_every_word() -> None:
    w = lambda s, e, t, k, ov=False: Word(s, e, " " + t, 0.3 if t == "uh" else 0.9, k, ov)  # noqa: E731
    segments = (
        Segment(0.0, 1.0, "a b", (w(0.0, 0.5, "a", "S1"), w(0.5, 1.0, "b", "S1")), "S1"),
        Segment(1.0, 2.0, "c", (w(1.0, 2.0, "c", "S1"),), "S1"),
        Segment(1.8, 3.0, "uh", (w(1.8, 3.0, "uh", "S2", True),), "S2"),
        Segment(3.5, 4.0, "no words", (), None),
    )
    turns = (SpeakerTurn(0.0, 2.0, "S1"), SpeakerTurn(1.8, 3.0, "S2"))
    result = Result(MediaInfo("x.wav", 5.0, 16000, 1, "", ""), "en", ("S1", "S2"), turns, segments)
    data = viewer_data(result, {"json": "x.json", "srt": "my x.srt"})
    assert [s["label"] for s in data["speakers"]] == ["S1", "S2", "UNKNOWN"]
    assert data["turns"] == [[0, 0.0, 2.0, 0, 3], [1, 1.8, 3.0, 3, 4], [2, 3.5, 4.0, 4, 5]]
    assert data["words"]["t"] == ["a", "b", "c", "uh", "no words"]
    assert data["words"]["ov"] == [3] and data["words"]["low"] == [3]
    assert data["overlaps"] == [[1.8, 2.0]]
    assert data["speakers"][0]["talk"] == 2.0
    assert data["outputs"] == [{"format": "json", "href": "x.json"}, {"format": "srt", "href": "my%20x.srt"}]


def test_write_links_the_other_outputs_of_the_run(tmp_path: Path) -> None:
    paths = write(tiny_result(["hi"]), "json,html,srt", tmp_path)
    assert [p.name for p in paths] == ["talk.json", "talk.html", "talk.srt"]
    data = page_data((tmp_path / "talk.html").read_text(encoding="utf-8"))
    assert data["outputs"] == [{"format": "json", "href": "talk.json"}, {"format": "srt", "href": "talk.srt"}]
    assert {"html", "png"} <= set(resolve_formats("all"))


def test_html_options_load_from_a_pipeline_mapping() -> None:
    from diarize.errors import ConfigError
    from diarize.strict import options_from_dict

    options = options_from_dict(WriterOptions, {"html": {"embed_media": True, "embed_max_bytes": 1000}})
    assert options.html == HtmlOptions(embed_media=True, embed_max_bytes=1000)
    with pytest.raises(ConfigError):
        options_from_dict(WriterOptions, {"html": {"embed": True}})


def test_page_carries_each_download_with_speaker_markers_in_place_of_labels() -> None:
    result = long_meeting(hours=0.05, speakers=3)
    texts = page_exports(render_html(result, stem="standup"))
    assert sorted(texts) == ["json", "md", "srt", "vtt"]
    for fmt, text in texts.items():
        assert "SPEAKER_0" not in text, fmt
        assert chr(MARKER_BASE + 1) + "\ue000" * 9 in text, fmt  # as long as SPEAKER_01
    assert '"speaker_names": "\ue0ff"' in texts["json"]
    private = tiny_result(["a\ue123b"])  # the transcript's own private-use text: no marked downloads
    assert page_exports(render_html(private)) == {}


def test_segment_languages_are_tagged_where_they_change() -> None:
    from dataclasses import replace

    w = lambda s, t: Word(s, s + 0.5, " " + t, 0.9, "S1")  # noqa: E731
    languages = ["en", "es", "es", None, "en"]
    segments = tuple(
        replace(Segment(i, i + 0.5, t, (w(i, t),), "S1"), language=lang)
        for i, (t, lang) in enumerate(zip(["hi", "hola", "que", "tal", "bye"], languages, strict=True))
    )
    result = Result(MediaInfo("x.wav", 6.0, 16000, 1, "", ""), "en", ("S1",), (SpeakerTurn(0, 5, "S1"),), segments)
    assert viewer_data(result)["words"]["lang"] == [[1, "es"], [4, "en"]]


def write_names(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return f"@{path}"


def test_speaker_names_are_read_from_a_csv_file(tmp_path: Path) -> None:
    good = write_names(tmp_path / "names.csv", '\ufefflabel,name\nSPEAKER_00,"Ana, María"\n\nSPEAKER_01, Ben \n')
    assert read_speaker_names(good) == {"SPEAKER_00": "Ana, María", "SPEAKER_01": "Ben"}
    assert read_speaker_names("SPEAKER_00=Ana") == {"SPEAKER_00": "Ana"}
    assert read_speaker_names(write_names(tmp_path / "empty.csv", "label,name\n")) == {}
    bad = {
        "header.csv": ("SPEAKER_00,Ana\n", "header.csv: a speaker names file starts with the header line label,name"),
        "row.csv": ("label,name\nS0,Ana\nSPEAKER_01\n", "row.csv, line 3: expected label,name, got 'SPEAKER_01'"),
        "twice.csv": ("label,name\nS,a\nS,b\n", "twice.csv, line 3: 'S' is named twice"),
    }
    for name, (text, message) in bad.items():
        with pytest.raises(ConfigError) as error:
            read_speaker_names(write_names(tmp_path / name, text))
        assert str(error.value) == f"{tmp_path}/{message}"
    (tmp_path / "latin1.csv").write_bytes("label,name\nS,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.csv: the speaker names file is not UTF-8 text"):
        read_speaker_names(f"@{tmp_path / 'latin1.csv'}")
    with pytest.raises(ConfigError, match="missing.csv: cannot read the speaker names file"):
        read_speaker_names(f"@{tmp_path / 'missing.csv'}")


def test_run_stops_on_a_bad_names_file_with_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from diarize.cli.main import cli

    names = write_names(tmp_path / "names.csv", "who,what\n")
    run = CliRunner().invoke(cli, ["run", str(tmp_path / "talk.wav"), "-o", str(tmp_path / "out"),
                                   "--speaker-names", names])
    assert run.exit_code == 1
    assert run.stderr.strip().splitlines() == [
        f"diarize: error: {tmp_path}/names.csv: a speaker names file starts with the header line label,name"]


# --- the page in headless Chromium ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh headless Chromium (its own profile) driven by Playwright; skips when either is missing."""
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


@pytest.fixture(scope="module")
def simconv_page(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """simconv's page in ``out/``, its media copied to ``media/`` beside it, plus json, srt and png."""
    root = tmp_path_factory.mktemp("viewer")
    media = root / "media" / "simconv_en_text.wav"
    media.parent.mkdir()
    shutil.copyfile(shared_data / "meetings" / "simconv_en_text.wav", media)
    write(simconv_result(shared_data / "meetings", media), "json,srt,html,png", root / "out")
    return root / "out" / "simconv_en_text.html"


@pytest.fixture()
def viewer(browser: Any, simconv_page: Path) -> Iterator[Page]:
    page = Page(browser, simconv_page)
    page.page.evaluate("localStorage.clear()")
    yield page
    page.page.close()


def test_page_loads_offline_with_every_turn(viewer: Page, simconv_page: Path) -> None:
    page = viewer.page
    viewer.wait_for("document.getElementById('player').readyState >= 1")
    assert viewer.errors == [NOT_FOUND]  # first looked for beside the page
    media = (simconv_page.parent.parent / "media" / "simconv_en_text.wav").as_uri()
    beside = (simconv_page.parent / "simconv_en_text.wav").as_uri()
    assert set(viewer.requests) == {simconv_page.as_uri(), beside, media}  # the page and its media, nothing else
    assert page.locator("#media-notice").is_hidden()
    assert page.eval_on_selector("#player", "p => p.duration") == pytest.approx(31.192, abs=0.01)
    turns = page.locator(".turn")
    assert turns.count() == 5
    assert turns.nth(2).locator(".spk").inner_text() == "SPEAKER_02"
    assert turns.nth(2).locator(".turn-text").inner_text().startswith("and so my fellow americans")
    assert page.locator(".tl-row .tl-bar").count() == 9 + 1  # 9 reference turns and one overlap
    assert page.locator("#outputs a").all_inner_texts() == ["JSON", "SRT", "PNG"]
    assert page.locator(".speaker .talk").first.inner_text() == "0:10 · 38 %"
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("document.getElementById('player').currentTime = 29.6")
    page.wait_for_selector(".turn-text .cur")
    page.screenshot(path=str(ARTIFACTS / "html-viewer.png"))


def test_clicking_a_turn_or_word_seeks_and_highlights(viewer: Page) -> None:
    page = viewer.page
    page.locator(".turn").nth(2).locator(".ts").click()
    assert viewer.current_time() == pytest.approx(13.858, abs=0.05)
    word = page.locator(".turn").nth(3).locator(".turn-text span").nth(4)  # "apostle"
    word.click()
    data = page.evaluate("JSON.parse(document.getElementById('diarize-data').textContent)")
    start = data["words"]["s"][data["turns"][3][3] + 4]
    assert viewer.current_time() == pytest.approx(start, abs=0.05)
    assert page.locator(".turn-text .cur").all_inner_texts() == ["apostle"]
    assert page.locator(".turn.now .spk").inner_text() == "SPEAKER_03"
    page.locator(".tl-tracks").click(position={"x": 5, "y": 5})
    assert viewer.current_time() < 1.0


def test_playback_highlights_the_word_being_spoken(viewer: Page) -> None:
    page = viewer.page
    page.evaluate("const p = document.getElementById('player'); p.muted = true; p.currentTime = 13.9;"
                  " p.play()")
    viewer.wait_for("document.getElementById('player').currentTime > 15.2")
    time_now, lit = page.evaluate(
        "[document.getElementById('player').currentTime,"
        " Array.from(document.querySelectorAll('.cur'), e => +e.getAttribute('data-w'))]"
    )
    page.evaluate("document.getElementById('player').pause()")
    words = page.evaluate("JSON.parse(document.getElementById('diarize-data').textContent).words")
    assert len(lit) == 1
    assert words["s"][lit[0]] - 0.1 <= time_now < words["e"][lit[0]] + 0.35  # a frame of lag at most
    assert page.locator(".turn.now .spk").all_inner_texts() == ["SPEAKER_02"]


def test_search_filters_turns_and_highlights_words(viewer: Page) -> None:
    page = viewer.page
    page.fill("#search", "your country")
    viewer.wait_for("document.querySelectorAll('.hit').length > 0")
    assert page.locator(".turn-text .hit").all_inner_texts() == ["your", "country", "your", "country"]
    assert page.locator(".turn:visible").count() == 1
    assert page.locator("#search-count").inner_text() == "2 matches in 1 turn"
    page.press("#search", "Escape")
    viewer.wait_for("document.querySelectorAll('.hit').length === 0")
    assert page.locator(".turn:visible").count() == 5


def test_search_ignores_case_accents_and_punctuation(browser: Any, tmp_path: Path) -> None:
    write(tiny_result(["Hello,", "Antonín", "Dvořák.", "Bye!"], str(tmp_path / "talk.wav")), "html", tmp_path)
    viewer = Page(browser, tmp_path / "talk.html")
    viewer.page.fill("#search", "antonin dvorak")
    viewer.wait_for("document.querySelectorAll('.hit').length > 0")
    assert viewer.page.locator(".hit").all_inner_texts() == ["Antonín", "Dvořák."]
    viewer.page.fill("#search", "hello antonin")
    viewer.wait_for("document.getElementById('search-count').textContent === '1 match in 1 turn'")
    viewer.page.close()


def test_renaming_a_speaker_changes_every_label_and_is_remembered(viewer: Page, browser: Any,
                                                                  simconv_page: Path) -> None:
    page = viewer.page
    before = page.locator(".spk", has_text="SPEAKER_00").count()
    assert before == 2  # the timeline lane and the transcript turn
    page.fill('input[data-s="0"]', "Narrator <i>")
    page.press('input[data-s="0"]', "Enter")
    assert page.locator(".spk", has_text="SPEAKER_00").count() == 0
    assert page.locator(".spk", has_text="Narrator <i>").count() == before
    assert "SPEAKER_00" not in page.inner_text("body")
    again = Page(browser, simconv_page)  # the name is kept for this file
    assert again.page.locator(".turn .spk").first.inner_text() == "Narrator <i>"
    again.page.click("#reset-names")
    assert again.page.locator(".turn .spk").first.inner_text() == "SPEAKER_00"
    again.page.close()


def test_markup_in_the_transcript_shows_as_text_and_never_runs(browser: Any, tmp_path: Path) -> None:
    texts = ["<script>window.pwned=1</script>", "<img src=x onerror=window.pwned=2>", "</script><b>x"]
    write(tiny_result(texts, str(tmp_path / "talk.wav")), "html", tmp_path)
    viewer = Page(browser, tmp_path / "talk.html")
    page = viewer.page
    assert page.evaluate("window.pwned") is None
    assert page.locator(".turn-text span").all_inner_texts() == texts
    assert page.locator(".turn-text img, .turn-text b, .turn-text script").count() == 0
    assert not [e for e in viewer.errors if "Content Security Policy" in e]  # the viewer itself is allowed
    page.close()


@pytest.mark.slow  # writing the page builds the meeting's SRT and WebVTT for its downloads: about 10 s
def test_a_two_hour_meeting_is_interactive_within_seconds(browser: Any, tmp_path: Path) -> None:
    result = long_meeting()
    assert len(result.words) > 20_000
    write(result, "html", tmp_path)
    viewer = Page(browser, tmp_path / "meeting.html")
    page = viewer.page
    ready_ms = page.evaluate("performance.getEntriesByName('diarize-ready')[0].startTime")
    print(f"2-hour meeting, {len(result.words)} words: ready after {ready_ms:.0f} ms, "
          f"interactive after {viewer.seconds:.2f} s")
    assert viewer.seconds < 5.0
    assert page.locator(".turn").count() == len(viewer_data(result)["turns"])
    started = time.perf_counter()
    page.fill("#search", "budget plan")
    viewer.wait_for("document.getElementById('search-count').textContent !== ''")
    assert time.perf_counter() - started < 2.0
    page.close()


def test_embedded_media_plays_from_the_page_alone(browser: Any, shared_data: Path, tmp_path: Path) -> None:
    media = shared_data / "meetings" / "simconv_en_text.wav"
    result = simconv_result(shared_data / "meetings", media)
    write(result, "html", tmp_path, WriterOptions(html=HtmlOptions(embed_media=True)))
    page = tmp_path / "simconv_en_text.html"
    viewer = Page(browser, page)
    viewer.wait_for("document.getElementById('player').readyState >= 1")
    assert viewer.page.eval_on_selector("#player", "p => p.duration") == pytest.approx(31.192, abs=0.01)
    assert [url for url in viewer.requests if not url.startswith("data:")] == [page.as_uri()]
    assert viewer.errors == []
    viewer.page.close()


# --- the player: video, captions, finding the media, codecs ------------------------------------------------


def meeting_video(folder: Path, codec: str = "libx264", hours: float = 0.01, speakers: int = 3) -> Result:
    """A generated meeting transcript (36 s by default) of a 2 s video made in ``folder``."""
    media = make_video(folder / "clip.mp4", codec)
    return as_video(long_meeting(hours=hours, speakers=speakers), media, "mpeg4" if codec == "mpeg4" else "h264")


def test_video_plays_at_its_aspect_ratio_with_switchable_captions(browser: Any, tmp_path: Path) -> None:
    result = meeting_video(tmp_path)
    write(result, "html", tmp_path)
    viewer = Page(browser, tmp_path / "clip.html")
    page = viewer.page
    viewer.loaded()
    box = page.locator("#player").bounding_box()
    assert box["width"] / box["height"] == pytest.approx(320 / 180, rel=0.01)
    assert 0.55 * 900 <= box["height"] <= 0.6 * 900 + 1  # as large as 60 % of the window's height allows
    track = "document.querySelector('#player track')"
    viewer.wait_for(f"{track} !== null && {track}.readyState === 2")
    cues = dict(render(result, "vtt"))["clip.vtt"].decode().count(" --> ")
    assert page.evaluate(f"[{track}.kind, {track}.track.mode, {track}.track.cues.length]") == ["captions", "showing",
                                                                                              cues]
    assert page.evaluate(f"{track}.track.cues[0].text").startswith("<v SPEAKER_")
    page.evaluate("document.getElementById('player').currentTime = 1.0")
    viewer.wait_for(f"{track}.track.activeCues.length === 1")
    page.uncheck("#captions")
    assert page.evaluate(f"{track}.track.mode") == "hidden"
    page.check("#captions")
    assert page.evaluate(f"{track}.track.mode") == "showing"
    first = page.evaluate("JSON.parse(document.getElementById('diarize-data').textContent).words.k[0]")
    viewer.rename(first, "Ana")  # the captions follow the names given in the page
    viewer.wait_for(f"{track}.readyState === 2 && {track}.track.cues[0].text.startsWith('<v Ana>')")
    assert page.evaluate("document.querySelectorAll('#player track').length") == 1
    assert page.locator("#media-notice").is_hidden()
    assert viewer.errors == []
    page.close()


def test_a_codec_the_browser_cannot_decode_is_named_with_the_fix(browser: Any, tmp_path: Path) -> None:
    result = meeting_video(tmp_path, "mpeg4")
    write(result, "html", tmp_path)
    viewer = Page(browser, tmp_path / "clip.html")
    notice = viewer.page.locator("#media-notice")
    assert notice.is_visible()
    assert "This browser cannot decode the video codec MPEG-4 Part 2 (mpeg4)." in notice.inner_text()
    assert "ffmpeg -i clip.mp4 -c:v libx264 -c:a aac clip.web.mp4" in notice.inner_text()
    viewer.page.close()
    # recorded as H.264, which the browser says it plays: the picture that does not decode still tells
    write(as_video(result, Path(result.source.path), "h264"), "html", tmp_path / "h264")
    viewer = Page(browser, tmp_path / "h264" / "clip.html")
    viewer.loaded()
    viewer.wait_for("!document.getElementById('media-notice').hidden")
    assert viewer.page.evaluate("document.getElementById('player').videoWidth") == 0
    assert "cannot decode the video codec H.264 (h264)" in viewer.page.locator("#media-notice").inner_text()
    viewer.page.close()


def test_media_is_found_beside_a_moved_page_or_where_it_was(browser: Any, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    result = meeting_video(tmp_path / "in")
    write(result, "html", tmp_path / "out")
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copyfile(tmp_path / "out" / "clip.html", moved / "clip.html")
    shutil.move(tmp_path / "in" / "clip.mp4", moved / "clip.mp4")  # page and media moved together
    viewer = Page(browser, moved / "clip.html")
    viewer.loaded()
    assert viewer.plays_from() == (moved / "clip.mp4").as_uri()
    assert viewer.errors == []
    viewer.page.close()
    alone = tmp_path / "alone" / "deeper"  # the page moved alone: the media is where it was transcribed
    alone.mkdir(parents=True)
    shutil.move(moved / "clip.mp4", tmp_path / "in" / "clip.mp4")
    shutil.copyfile(tmp_path / "out" / "clip.html", alone / "clip.html")
    viewer = Page(browser, alone / "clip.html")
    viewer.loaded()
    assert viewer.plays_from() == (tmp_path / "in" / "clip.mp4").as_uri()
    assert viewer.page.locator("#media-notice").is_hidden()
    viewer.page.close()


def test_a_path_given_in_the_page_loads_the_media_and_is_remembered(browser: Any, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    result = meeting_video(tmp_path / "in")
    write(result, "html", tmp_path / "out")
    (tmp_path / "elsewhere").mkdir()
    media = shutil.move(tmp_path / "in" / "clip.mp4", tmp_path / "elsewhere" / "my clip #2.mp4")
    viewer = Page(browser, tmp_path / "out" / "clip.html")
    page = viewer.page
    viewer.wait_for("!document.getElementById('media-notice').hidden")
    notice = page.locator("#media-notice").inner_text()
    assert f"could not be loaded from clip.mp4, ../in/clip.mp4, file://{tmp_path}/in/clip.mp4." in notice
    assert "--embed-media" in notice
    assert page.locator("#media-path").is_visible()  # the media box opens by itself
    page.fill("#media-path", str(media))
    page.click("#media-form button")
    viewer.loaded()
    assert viewer.plays_from() == Path(media).as_uri()
    assert page.locator("#media-notice").is_hidden()
    page.close()
    again = Page(browser, tmp_path / "out" / "clip.html")
    again.loaded()
    assert again.plays_from() == Path(media).as_uri()
    again.page.close()


# --- layout ------------------------------------------------------------------------------------------------

_BOXES = """() => {
  const sel = ".masthead h1, #summary, .outputs a, .outputs-label, #player, .captions-toggle, .media-source summary,"
    + " .tl-label, .tl-tick, .speaker-name, .talk, #reset-names, .export-buttons button, #search, .search-count,"
    + " .follow, .turn-head .spk, .turn-head .ts";
  return Array.from(document.querySelectorAll(sel)).filter(e => e.getClientRects().length > 0).map(e => {
    const r = e.getBoundingClientRect();
    return [e.className || e.tagName, (e.textContent || "").trim().slice(0, 20), r.left, r.top + scrollY,
            r.right, r.bottom + scrollY];
  });
}"""


def overlaps(boxes: list[list[Any]]) -> list[tuple[Any, Any]]:
    """Pairs of boxes ``[class, text, left, top, right, bottom]`` that share more than half a pixel each way."""
    def meet(a: list[Any], b: list[Any]) -> bool:
        return a[2] < b[4] - 0.5 and b[2] < a[4] - 0.5 and a[3] < b[5] - 0.5 and b[3] < a[5] - 0.5

    return [(a[:2], b[:2]) for i, a in enumerate(boxes) for b in boxes[i + 1:] if meet(a, b)]


def write_wav(path: Path, seconds: float = 2.0) -> Path:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * int(seconds * 16000))
    return path


@pytest.mark.parametrize("kind", ["audio", "video"])
@pytest.mark.parametrize("width", [1400, 420])
def test_layout_keeps_labels_and_controls_apart(browser: Any, tmp_path: Path, width: int, kind: str) -> None:
    if kind == "video":
        result = meeting_video(tmp_path, hours=0.05, speakers=4)
    else:
        result = long_meeting(hours=0.05, speakers=4)
        result = replace(result, source=replace(result.source, path=str(write_wav(tmp_path / "meeting.wav"))))
    write(result, "json,srt,html,png", tmp_path)
    viewer = Page(browser, tmp_path / f"{PurePath(result.source.path).stem}.html", width)
    page = viewer.page
    viewer.loaded()
    viewer.rename(0, "Dr. Maximiliane Oberhauser-Schmidt")  # a long name is cut short, not spilled
    page.screenshot(path=str(tmp_path / f"viewer-{kind}-{width}.png"), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(tmp_path / f"viewer-{kind}-{width}.png", ARTIFACTS / f"html-viewer-{kind}-{width}.png")
    boxes = page.evaluate(_BOXES)
    assert overlaps(boxes) == []
    assert all(box[2] >= 0 and box[4] <= width + 0.5 for box in boxes), [b for b in boxes if b[4] > width + 0.5]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    ticks = [b for b in boxes if b[0].startswith("tl-tick")]
    assert len(ticks) >= 3 and ticks[0][1] == "0:00"
    assert [b[1] for b in boxes if b[0] == "tl-label"][:4] == ["Dr. Maximiliane Ober", "SPEAKER_01", "SPEAKER_02",
                                                              "SPEAKER_03"]
    assert (tmp_path / f"viewer-{kind}-{width}.png").stat().st_size > 10_000
    assert viewer.errors == []
    page.close()


# --- downloads with the names given in the page -----------------------------------------------------------


def test_downloads_carry_the_names_given_in_the_page(browser: Any, tmp_path: Path) -> None:
    result = long_meeting(hours=0.02, speakers=3)
    write(result, "json,srt,vtt,md,html", tmp_path)
    viewer = Page(browser, tmp_path / "meeting.html")
    names = {"SPEAKER_00": "Ana <María", "SPEAKER_02": 'Bo "Q" Lee'}  # as long as the labels: same line breaks
    viewer.rename(0, names["SPEAKER_00"])
    viewer.rename(2, names["SPEAKER_02"])
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    expected = dict(render(rename_speakers(result, names), "json,srt,vtt,md,html", tmp_path))
    assert "subtitles" in json.loads(expected["meeting.json"])["provenance"]  # the JSON tells of its SRT and VTT
    for fmt in ("json", "srt", "vtt", "md"):
        got = viewer.download(fmt, downloads)
        assert got.name == f"meeting.{fmt}"
        assert got.read_text(encoding="utf-8") == expected[got.name].decode("utf-8"), fmt
    assert Result.from_json(downloads / "meeting.json").speakers[0] == "Ana <María"
    csv = viewer.download("names", downloads)
    assert csv.name == "meeting.names.csv"
    assert csv.read_text(encoding="utf-8") == 'label,name\nSPEAKER_00,Ana <María\nSPEAKER_02,"Bo ""Q"" Lee"\n'
    assert read_speaker_names(f"@{csv}") == names
    viewer.rename(1, "Ana <María")  # two speakers of one name: a new run would refuse it, so the page does
    viewer.page.click('button[data-export="json"]')
    assert "both called Ana <María" in viewer.page.inner_text("#export-status")
    assert set(viewer.errors) == {NOT_FOUND}  # meeting.wav is nowhere
    viewer.page.close()


@pytest.mark.slow
def test_names_given_in_the_page_name_the_speakers_of_a_new_run(browser: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    import diarize
    from diarize.cli.main import cli

    sample, runner = diarize.sample_path(), CliRunner()
    common = [str(sample), "--pipeline", "archive", "--num-speakers", "2"]
    first = runner.invoke(cli, ["run", *common, "-o", str(tmp_path / "first"), "-f", "json,html"])
    assert first.exit_code == 0, first.stderr
    viewer = Page(browser, tmp_path / "first" / "sample.html")
    assert viewer.page.locator(".speaker-name").evaluate_all("l => l.map(e => e.value)") == ["SPEAKER_00",
                                                                                             "SPEAKER_01"]
    viewer.rename(0, "Alice")
    viewer.rename(1, "Bob")
    names = viewer.download("names", tmp_path)
    viewer.page.close()
    second = runner.invoke(cli, ["run", *common, "-o", str(tmp_path / "second"), "-f", "json,srt,vtt,md",
                                 "--speaker-names", f"@{names}"])
    assert second.exit_code == 0, second.stderr
    out = tmp_path / "second"
    assert set(Result.from_json(out / "sample.json").speakers) == {"Alice", "Bob"}
    texts = {fmt: (out / f"sample.{fmt}").read_text(encoding="utf-8") for fmt in ("srt", "vtt", "md")}
    assert "[Alice]" in texts["srt"] and "[Bob]" in texts["srt"]
    assert "<v Alice>" in texts["vtt"] and "<v Bob>" in texts["vtt"]
    assert "**Alice**" in texts["md"] and "**Bob**" in texts["md"]
    assert not any("SPEAKER_0" in text for text in texts.values())


@pytest.mark.slow
def test_demo_writes_the_viewer_of_a_real_run(browser: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from diarize.cli.main import cli

    out = tmp_path / "demo"
    run = CliRunner().invoke(cli, ["demo", "-o", str(out), "-f", "json"], catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    page = out / "sample.html"
    assert f"transcript viewer: {page.resolve()}" in run.stdout
    result = json.loads((out / "sample.json").read_text())
    viewer = Page(browser, page)
    viewer.wait_for("document.getElementById('player').readyState >= 1")
    assert viewer.errors == []
    assert viewer.page.eval_on_selector("#player", "p => p.duration") == pytest.approx(30.0, abs=0.1)
    assert [url for url in viewer.requests if not url.startswith("data:")] == [page.resolve().as_uri()]
    spans = viewer.page.locator(".turn-text span").count()
    assert spans == sum(len(s["words"]) for s in result["segments"]) > 20
    assert viewer.page.locator(".tl-row:not(.tl-overlap) .tl-bar").count() == len(result["turns"])
    viewer.page.close()


def test_run_embed_media_flag_sets_the_html_option() -> None:
    from click.testing import CliRunner

    from diarize.cli.main import _with_embedded_media, cli
    from diarize.config import load_pipeline

    config = _with_embedded_media(load_pipeline())
    assert config.output.writers.html.embed_media is True
    assert config.output.writers.subtitle == load_pipeline().output.writers.subtitle
    assert "--embed-media" in CliRunner().invoke(cli, ["run", "--help"]).stdout
