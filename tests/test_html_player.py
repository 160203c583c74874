"""The viewer's player and downloads in headless Chromium (Playwright driving Debian's ``/usr/bin/chromium``;
skipped when either is absent): a video at its aspect ratio with a captions track, the notice for a codec the
browser cannot decode, finding the media beside a moved page or by a path given in the page, the layout at
1400 and 420 px (screenshots in ``tmp_path``, copied to ``test-artifacts/``), and the transcript downloaded
with the names given in the page, down to a new run reading the page's ``names.csv``. Also the CSV that
``--speaker-names @FILE`` reads.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path, PurePath
from typing import Any

import pytest
from batch_fakes import write_wav
from viewer_pages import (
    ARTIFACTS,
    NOT_FOUND,
    Page,
    as_video,
    chromium,
    long_meeting,
    meeting_video,
)

from diarize.cli.common import read_speaker_names
from diarize.errors import ConfigError
from diarize.types import Result
from diarize.writers import rename_speakers, render, write


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from chromium(tmp_path_factory)


# --- the names file -----------------------------------------------------------------------------------------


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


# --- the player: video, captions, finding the media, codecs ------------------------------------------------


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
    again.page.set_input_files("#media-file", str(media))  # or a file chosen in the browser's dialog
    again.wait_for("document.getElementById('player').currentSrc.startsWith('blob:')")
    again.loaded()
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


