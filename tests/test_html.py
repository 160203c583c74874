"""The HTML transcript viewer: the page's content and safety without a browser, then its behaviour in real
headless Chromium (Playwright driving Debian's ``/usr/bin/chromium``; those tests skip when either is absent):
loading offline, seeking, highlighting, search, renaming, escaping, a long meeting, embedded media, the demo.
The player, the layout and the downloads are tested in ``test_html_player.py``.

The browser tests save a screenshot of the viewer to ``test-artifacts/html-viewer.png`` in the repository root
(git-ignored).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from viewer_pages import (
    ARTIFACTS,
    NOT_FOUND,
    Page,
    as_video,
    chromium,
    long_meeting,
    page_data,
    page_exports,
    simconv_result,
    tiny_result,
)

from diarize.types import MediaInfo, Result, Segment, SpeakerTurn, Word
from diarize.writers import HtmlOptions, OutputContext, WriterOptions, resolve_formats, write
from diarize.writers.html import render_html, viewer_data
from diarize.writers.viewer.exports import MARKER_BASE
from diarize.writers.viewer.media import media_href

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


# --- the page in headless Chromium ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from chromium(tmp_path_factory)


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
