/* diarize transcript viewer, media: where the player finds the file, whether this browser can decode it, a
   path the reader gives, and the captions track. viewer.js calls viewer.initMedia(app) once its page is built. */
(function (viewer) {
  "use strict";

  // A path typed into the page as a URL: kept when it is one, file: for an absolute path (POSIX or a
  // Windows drive), else relative to the page.
  function toUrl(text) {
    text = text.trim().replace(/^(["'])(.*)\1$/, "$2");
    var encode = function (p) { return encodeURI(p).replace(/#/g, "%23").replace(/\?/g, "%3F"); };
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^(data|blob):/i.test(text)) return text;
    if (/^[a-z]:[\\/]/i.test(text)) return "file:///" + encode(text.replace(/\\/g, "/"));
    if (text.charAt(0) === "/") return "file://" + encode(text);
    return encode(text.replace(/\\/g, "/"));
  }

  function shown(url) {
    if (/^data:/.test(url)) return "inside this page";
    if (/^blob:/.test(url)) return "a chosen file";
    try { return decodeURI(url); } catch (e) { return url; }
  }

  viewer.initMedia = function (app) {
    var media = app.data.media || {};
    var player = app.player;
    var bar = document.querySelector(".media-bar");
    if (!player) { bar.hidden = true; return; }
    var notice = document.getElementById("media-notice");
    var details = document.getElementById("media-source");
    var current = document.getElementById("media-current");
    var pathBox = document.getElementById("media-path");
    var storageKey = app.data.storage_key + ":media";
    var saved = null;
    try { saved = window.localStorage.getItem(storageKey); } catch (e) { saved = null; }
    var sources = (media.sources || []).slice();
    if (saved && sources.indexOf(saved) < 0) sources.unshift(saved);
    var at = Math.max(0, sources.indexOf(player.getAttribute("src")));
    var tried = [], fromUser = false, missing = false;
    if (saved && !media.embedded && player.getAttribute("src") !== saved) { at = 0; player.src = saved; }

    // The streams whose codec this browser says it cannot play (canPlayType answers "").
    var undecodable = (media.codecs || []).filter(function (c) { return c.probe && player.canPlayType(c.probe) === ""; });

    function line(parts) {
      var p = app.el("p");
      parts.forEach(function (part) {
        if (typeof part === "string") p.appendChild(document.createTextNode(part));
        else p.appendChild(app.el(part[0], part[1], part[2]));
      });
      return p;
    }

    function render() {
      notice.textContent = "";
      if (undecodable.length) {
        var what = undecodable.map(function (c) { return "the " + c.stream + " codec " + c.name + " (" + c.codec + ")"; });
        notice.appendChild(line([["strong", "", "This browser cannot decode " + what.join(" or ") + "."],
          media.kind === "video" && undecodable.some(function (c) { return c.stream === "video"; })
            ? " The transcript and timeline work; the picture stays black." : ""]));
        notice.appendChild(line(["Convert the file to " + (media.kind === "video" ? "H.264 and AAC" : "AAC") +
          ", which every browser plays, and load the new file below: ", ["code", "", media.transcode]]));
      }
      if (missing) {
        notice.appendChild(line([["strong", "", "The media could not be loaded"],
          tried.length ? " from " + tried.map(shown).join(", ") + "." : "."]));
        notice.appendChild(line(["Give its path below or choose the file; or re-run diarize with ",
          ["code", "", "--embed-media"], " to put the media inside the page."]));
      }
      notice.hidden = !notice.firstChild;
      if (missing) details.open = true;
      current.textContent = player.currentSrc ? "Playing: " + shown(player.currentSrc) : "";
    }

    function load(url, user) {
      fromUser = user;
      player.src = url;
      player.load();
    }

    player.addEventListener("error", function () {
      var src = player.getAttribute("src");
      if (src && tried.indexOf(src) < 0) tried.push(src);
      if (!fromUser && at + 1 < sources.length) { at += 1; load(sources[at], false); return; }
      missing = true;
      render();
    });
    player.addEventListener("loadedmetadata", function () {
      missing = false;
      // a video whose picture the browser could not decode loads as sound alone
      if (media.kind === "video" && player.videoWidth === 0 && !undecodable.some(function (c) { return c.stream === "video"; })) {
        var video = (media.codecs || []).filter(function (c) { return c.stream === "video"; })[0];
        undecodable.push(video || { stream: "video", codec: "unknown", name: "of this file" });
      }
      if (fromUser && !/^blob:/.test(player.getAttribute("src"))) {
        try { window.localStorage.setItem(storageKey, player.getAttribute("src")); } catch (e) { /* no storage */ }
      }
      render();
      if (app.update) app.update();
    });
    document.getElementById("media-form").addEventListener("submit", function (e) {
      e.preventDefault();
      if (pathBox.value.trim()) { tried = []; load(toUrl(pathBox.value), true); }
    });
    document.getElementById("media-file").addEventListener("change", function (e) {
      var file = e.target.files && e.target.files[0];
      if (file) { tried = []; load(URL.createObjectURL(file), true); }
    });
    if (player.error) player.dispatchEvent(new Event("error"));  // it failed before this script ran
    render();
    if (media.kind === "video") initCaptions(app);
  };

  // ---- captions: the transcript's WebVTT (with the names given in the page) as a track of the video ----------

  function initCaptions(app) {
    var player = app.player;
    var toggle = document.getElementById("captions");
    var trackEl = null, url = null;

    function mode() { return toggle.checked ? "showing" : "hidden"; }

    function attach(vtt) {
      if (!vtt) return;
      var next = document.createElement("track");
      next.kind = "captions";
      next.label = "Transcript";
      next.srclang = app.data.language || "und";
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(new Blob([vtt], { type: "text/vtt" }));
      next.src = url;
      if (trackEl) trackEl.remove();
      player.appendChild(next);
      next.track.mode = mode();
      trackEl = next;
      toggle.parentNode.hidden = false;
    }

    function refresh() { app.exportText("vtt").then(attach); }

    toggle.addEventListener("change", function () { if (trackEl) trackEl.track.mode = mode(); });
    player.textTracks.addEventListener("change", function () {  // the player's own captions menu
      if (trackEl) toggle.checked = trackEl.track.mode === "showing";
    });
    app.onRename.push(refresh);
    refresh();
  }
})(window.diarizeViewer = window.diarizeViewer || {});
