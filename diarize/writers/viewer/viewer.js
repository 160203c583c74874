/* diarize transcript viewer: builds the page from the JSON blob in #diarize-data.
   All transcript text goes into the DOM through textContent, never as markup. */
(function (viewer) {
  "use strict";

  var data = JSON.parse(document.getElementById("diarize-data").textContent);
  var words = data.words;
  var nWords = words.t.length;
  var speakers = data.speakers;
  var turns = data.turns;           // [speaker, start, end, firstWord, endWord]
  var player = document.getElementById("player");
  var longMedia = data.duration >= 3600;
  var duration = Math.max(data.duration, 0.001);

  var names = speakers.map(function (s) { return s.label; });
  var labelEls = speakers.map(function () { return []; });  // every element that shows a speaker's name
  var wordEls = new Array(nWords);
  var turnEls = new Array(turns.length);
  var wordTurn = new Int32Array(nWords);

  // What media.js and exports.js share with this script.
  var app = { data: data, speakers: speakers, names: names, player: player, el: el, onRename: [] };

  // ---- helpers ---------------------------------------------------------------------------------------

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function clock(seconds, long) {
    var s = Math.max(0, Math.floor(seconds + 1e-6));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return long ? h + ":" + pad(m) + ":" + pad(r) : (h * 60 + m) + ":" + pad(r);
  }

  function nameLabel(index) {
    var span = el("span", "spk", names[index]);
    labelEls[index].push(span);
    return span;
  }

  function seek(seconds) {
    if (!player) return;
    player.currentTime = Math.max(0, seconds);
    update();
  }

  // ---- speaker names: renamed in the page, kept per media file in localStorage --------------------------

  function loadNames() {
    var saved = null;
    try { saved = JSON.parse(window.localStorage.getItem(data.storage_key) || "null"); } catch (e) { saved = null; }
    if (!saved || typeof saved !== "object") return;
    speakers.forEach(function (s, i) {
      if (typeof saved[s.label] === "string" && saved[s.label].trim()) names[i] = saved[s.label];
    });
  }

  function saveNames() {
    var renamed = {};
    speakers.forEach(function (s, i) { if (names[i] !== s.label) renamed[s.label] = names[i]; });
    var any = Object.keys(renamed).length > 0;
    document.getElementById("reset-names").hidden = !any;
    try {
      if (any) window.localStorage.setItem(data.storage_key, JSON.stringify(renamed));
      else window.localStorage.removeItem(data.storage_key);
    } catch (e) { /* storage unavailable (private mode, file: policy): names last for this visit */ }
  }

  function rename(index, name) {
    name = name.replace(/\s+/g, " ").trim() || speakers[index].label;
    names[index] = name;
    labelEls[index].forEach(function (node) { node.textContent = name; });
    var input = document.querySelector('input[data-s="' + index + '"]');
    if (input && input.value !== name) input.value = name;
    saveNames();
    app.onRename.forEach(function (listener) { listener(); });
  }

  // ---- header, outputs, footer ----------------------------------------------------------------------

  function buildHeader() {
    var parts = [clock(data.duration, longMedia), speakers.length + (speakers.length === 1 ? " speaker" : " speakers"),
                 nWords.toLocaleString("en") + " words"];
    var languages = [];
    [data.language].concat((words.lang || []).map(function (x) { return x[1]; })).forEach(function (l) {
      if (l && languages.indexOf(l) < 0) languages.push(l);
    });
    if (languages.length) parts.push((languages.length > 1 ? "languages: " : "language: ") + languages.join(", "));
    document.getElementById("summary").textContent = parts.join(" · ");
    var nav = document.getElementById("outputs");
    if (data.outputs.length) nav.appendChild(el("span", "outputs-label", "Downloads"));
    data.outputs.forEach(function (o) {
      var a = el("a", "chip", o.format.toUpperCase());
      a.href = o.href;
      a.title = decodeURIComponent(o.href);
      nav.appendChild(a);
    });
    var p = data.provenance, bits = ["Made with diarize " + p.diarize];
    Object.keys(p.models).forEach(function (k) { bits.push(k + ": " + p.models[k]); });
    var total = Object.keys(p.timings).reduce(function (a, k) { return a + p.timings[k]; }, 0);
    if (total > 0) bits.push("processed in " + total.toFixed(1) + " s");
    document.getElementById("footer").textContent = bits.join(" · ");
  }

  // ---- speakers card --------------------------------------------------------------------------------

  function buildSpeakers() {
    var list = document.getElementById("speakers");
    var frag = document.createDocumentFragment();
    var total = speakers.reduce(function (a, s) { return a + (s.talk || 0); }, 0);
    speakers.forEach(function (s, i) {
      var li = el("li", "speaker");
      li.style.setProperty("--c", s.color);
      var row = el("div", "speaker-row");
      row.appendChild(el("span", "swatch"));
      var input = el("input", "speaker-name");
      input.type = "text";
      input.value = names[i];
      input.setAttribute("data-s", i);
      input.setAttribute("aria-label", "Name of " + s.label);
      input.title = s.label + ": click to rename";
      row.appendChild(input);
      var share = total > 0 ? (100 * (s.talk || 0)) / total : 0;
      row.appendChild(el("span", "talk", (s.talk_clock || clock(s.talk || 0, longMedia)) + " · " + share.toFixed(0) + " %"));
      li.appendChild(row);
      var bar = el("div", "share");
      var fill = el("div", "share-fill");
      fill.style.width = share.toFixed(2) + "%";
      bar.appendChild(fill);
      li.appendChild(bar);
      frag.appendChild(li);
    });
    list.appendChild(frag);
    list.addEventListener("change", function (e) {
      if (e.target.matches("input[data-s]")) rename(+e.target.getAttribute("data-s"), e.target.value);
    });
    list.addEventListener("keydown", function (e) {
      if (!e.target.matches("input[data-s]")) return;
      if (e.key === "Enter") e.target.blur();
      if (e.key === "Escape") { e.target.value = names[+e.target.getAttribute("data-s")]; e.target.blur(); }
    });
    document.getElementById("reset-names").addEventListener("click", function () {
      speakers.forEach(function (s, i) { rename(i, s.label); });
    });
  }

  // ---- timeline: one lane per speaker, an overlap lane, an axis and a playhead ----------------------------

  function bar(cls, start, end, color, tip) {
    var b = el("div", cls);
    b.style.left = (100 * start / duration).toFixed(4) + "%";
    b.style.width = Math.max(0.05, 100 * (end - start) / duration).toFixed(4) + "%";
    if (color) b.style.background = color;
    b.title = tip;
    return b;
  }

  // At most 10 ticks, and no more than the axis has room for (a label needs about 40 px, 56 px with hours).
  function tickStep(width) {
    var most = Math.max(1, Math.min(10, Math.floor(width / (longMedia ? 84 : 64))));
    var steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 57600];
    for (var i = 0; i < steps.length; i++) if (duration / steps[i] <= most) return steps[i];
    return steps[steps.length - 1];
  }

  function buildAxis(axis) {
    axis.textContent = "";
    var step = tickStep(axis.clientWidth || 600), ticks = [];
    for (var x = 0; x <= duration + 1e-6; x += step) {
      var tick = el("span", "tl-tick", clock(x, longMedia));
      tick.style.left = (100 * x / duration).toFixed(4) + "%";
      if (x > 0.95 * duration) tick.classList.add("tl-tick-end");
      axis.appendChild(tick);
      ticks.push(tick);
    }
    var last = null;  // a label that would touch the one before it (the end one is pulled left) is hidden
    ticks.forEach(function (tick) {
      var r = tick.getBoundingClientRect();
      if (last && r.left < last.right + 6) tick.hidden = true;
      else last = r;
    });
  }

  function buildTimeline() {
    var root = document.getElementById("timeline");
    var labels = el("div", "tl-labels"), tracks = el("div", "tl-tracks");
    var rows = speakers.map(function (s, i) {
      if (s.unknown) return null;  // words without a speaker have no turns
      var label = el("div", "tl-label");
      label.style.setProperty("--c", s.color);
      label.appendChild(el("span", "swatch"));
      label.appendChild(nameLabel(i));
      labels.appendChild(label);
      var row = el("div", "tl-row");
      tracks.appendChild(row);
      return row;
    });
    data.timeline.forEach(function (t) {
      var tip = speakers[t[2]].label + "  " + clock(t[0], longMedia) + "–" + clock(t[1], longMedia);
      rows[t[2]].appendChild(bar("tl-bar", t[0], t[1], speakers[t[2]].color, tip));
    });
    if (data.overlaps.length) {
      labels.appendChild(el("div", "tl-label tl-muted", "Overlap"));
      var row = el("div", "tl-row tl-overlap");
      data.overlaps.forEach(function (o) {
        row.appendChild(bar("tl-bar tl-ov", o[0], o[1], null, "overlapping speech " + clock(o[0], longMedia)));
      });
      tracks.appendChild(row);
    }
    labels.appendChild(el("div", "tl-label tl-axis-label"));
    var axis = el("div", "tl-axis");
    tracks.appendChild(axis);
    tracks.appendChild(el("div", "tl-hits"));
    tracks.appendChild(el("div", "tl-playhead"));
    var hover = el("div", "tl-hover");
    tracks.appendChild(hover);
    root.appendChild(labels);
    root.appendChild(tracks);
    buildAxis(axis);
    var width = axis.clientWidth, timer = 0;
    window.addEventListener("resize", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        if (axis.clientWidth !== width) { width = axis.clientWidth; buildAxis(axis); }
      }, 100);
    });
    function timeAt(e) {
      var r = tracks.getBoundingClientRect();
      return Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)) * duration;
    }
    tracks.addEventListener("click", function (e) { seek(timeAt(e)); });
    tracks.addEventListener("mousemove", function (e) {
      hover.hidden = false;
      hover.style.left = (100 * timeAt(e) / duration) + "%";
      hover.textContent = clock(timeAt(e), longMedia);
    });
    tracks.addEventListener("mouseleave", function () { hover.hidden = true; });
    hover.hidden = true;
  }

  // ---- transcript -----------------------------------------------------------------------------------

  function buildTranscript() {
    var container = document.getElementById("turns");
    var frag = document.createDocumentFragment();
    var low = new Uint8Array(nWords), ov = new Uint8Array(nWords);
    words.low.forEach(function (i) { low[i] = 1; });
    words.ov.forEach(function (i) { ov[i] = 1; });
    var langAt = {};
    (Array.isArray(words.lang) ? words.lang : []).forEach(function (x) {
      if (Array.isArray(x) && typeof x[1] === "string") langAt[x[0]] = x[1];
    });
    for (var t = 0; t < turns.length; t++) {
      var turn = turns[t], k = turn[0];
      var art = el("article", "turn");
      art.setAttribute("data-t", t);
      art.style.setProperty("--c", speakers[k].color);
      var head = el("div", "turn-head");
      head.appendChild(el("span", "swatch"));
      head.appendChild(nameLabel(k));
      var ts = el("button", "ts", clock(turn[1], longMedia));
      ts.type = "button";
      ts.title = "Play from " + clock(turn[1], longMedia);
      head.appendChild(ts);
      art.appendChild(head);
      var p = el("p", "turn-text");
      for (var w = turn[3]; w < turn[4]; w++) {
        if (w > turn[3]) p.appendChild(document.createTextNode(" "));
        if (langAt[w] !== undefined) {
          var tag = el("small", "lang-tag", langAt[w]);
          tag.title = "spoken in " + langAt[w];
          p.appendChild(tag);
          p.appendChild(document.createTextNode(" "));
        }
        var span = document.createElement("span");
        span.textContent = words.t[w];
        span.setAttribute("data-w", w);
        if (low[w]) span.className = ov[w] ? "low ov" : "low";
        else if (ov[w]) span.className = "ov";
        if (words.k[w] !== k) span.style.setProperty("--wc", speakers[words.k[w]].color);
        wordEls[w] = span;
        wordTurn[w] = t;
        p.appendChild(span);
      }
      art.appendChild(p);
      turnEls[t] = art;
      frag.appendChild(art);
    }
    container.appendChild(frag);
    container.addEventListener("click", function (e) {
      var sel = window.getSelection();
      if (sel && !sel.isCollapsed) return;  // selecting text is not a click to seek
      var w = e.target.closest("[data-w]");
      if (w) { seek(words.s[+w.getAttribute("data-w")]); return; }
      var art = e.target.closest(".turn");
      if (art) seek(turns[+art.getAttribute("data-t")][1]);
    });
    if (!turns.length) {
      var empty = document.getElementById("empty");
      empty.textContent = "No speech was transcribed.";
      empty.hidden = false;
    }
  }

  // ---- playback: the current words by binary search over word starts ----------------------------------

  var TAIL = 0.25;                          // a word stays lit this long (s) into the pause after it
  var order = new Int32Array(nWords), maxLength = 0;
  for (var i = 0; i < nWords; i++) {
    order[i] = i;
    maxLength = Math.max(maxLength, Math.min(10, words.e[i] - words.s[i]));
  }
  order.sort(function (a, b) { return words.s[a] - words.s[b] || a - b; });
  var sortedStarts = new Float64Array(nWords);
  for (var j = 0; j < nWords; j++) sortedStarts[j] = words.s[order[j]];

  // The words being spoken at `time`: at most one per speaker (overlapping speakers each get theirs).
  function wordsAt(time) {
    var lo = 0, hi = nWords - 1, found = -1;
    while (lo <= hi) {                       // the last word that starts at or before `time`
      var mid = (lo + hi) >> 1;
      if (sortedStarts[mid] <= time) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    var out = [], seen = {};
    for (var k = found; k >= 0 && sortedStarts[k] >= time - maxLength - TAIL; k--) {
      var w = order[k];
      if (seen[words.k[w]]) continue;
      seen[words.k[w]] = true;
      if (time < words.e[w] + TAIL) out.push(w);
    }
    return out;
  }

  var current = [], currentKey = "", lastUserScroll = 0;
  var playhead = null;

  function update() {
    if (!player) return;
    var time = player.currentTime;
    if (!playhead) playhead = document.querySelector(".tl-playhead");
    playhead.style.left = Math.min(100, 100 * time / duration).toFixed(4) + "%";
    var now = wordsAt(time), key = now.join(",");
    if (key === currentKey) return;
    current.forEach(function (w) {
      wordEls[w].classList.remove("cur");
      turnEls[wordTurn[w]].classList.remove("now");
    });
    now.forEach(function (w) {
      wordEls[w].classList.add("cur");
      turnEls[wordTurn[w]].classList.add("now");
    });
    current = now;
    currentKey = key;
    if (now.length) follow(wordEls[now[now.length - 1]]);
  }

  function follow(node) {
    if (!document.getElementById("follow").checked || player.paused) return;
    if (Date.now() - lastUserScroll < 4000) return;  // the reader scrolled away: leave them be
    var r = node.getBoundingClientRect();
    var top = document.querySelector(".stage").getBoundingClientRect().bottom;
    if (r.top < top + 8 || r.bottom > window.innerHeight - 8) node.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  function loop() {
    update();
    if (player && !player.paused) window.requestAnimationFrame(loop);
  }

  function bindPlayer() {
    if (!player) return;
    player.addEventListener("timeupdate", update);
    player.addEventListener("seeked", update);
    player.addEventListener("play", function () { window.requestAnimationFrame(loop); });
    ["wheel", "touchmove"].forEach(function (type) {
      window.addEventListener(type, function () { lastUserScroll = Date.now(); }, { passive: true });
    });
  }

  // ---- search: filter turns, highlight matching words --------------------------------------------------

  var turnText = null, turnWords = null, hits = [], hitCursor = -1;

  // Case, accents and punctuation do not matter: "Dvořák," matches "dvorak".
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^\p{L}\p{N}'\u2019]+/gu, " ").replace(/\s+/g, " ").trim();
  }

  // Per turn: the folded words joined by blanks, and each word's [offset, end, index].
  function indexText() {
    turnText = new Array(turns.length);
    turnWords = new Array(turns.length);
    for (var t = 0; t < turns.length; t++) {
      var parts = [], spans = [], pos = 0;
      for (var w = turns[t][3]; w < turns[t][4]; w++) {
        var text = fold(words.t[w]);
        if (!text) continue;
        spans.push([pos, pos + text.length, w]);
        parts.push(text);
        pos += text.length + 1;
      }
      turnText[t] = parts.join(" ");
      turnWords[t] = spans;
    }
  }

  function clearSearch() {
    hits.forEach(function (w) { wordEls[w].classList.remove("hit", "hit-cur"); });
    hits = [];
    hitCursor = -1;
    turnEls.forEach(function (node) { node.hidden = false; });
    document.querySelector(".tl-hits").textContent = "";
  }

  function search(raw) {
    clearSearch();
    var query = fold(raw);
    var count = document.getElementById("search-count");
    if (!query) { count.textContent = ""; return; }
    if (!turnText) indexText();
    var matches = 0, shown = 0, marks = document.createDocumentFragment();
    for (var t = 0; t < turns.length; t++) {
      var text = turnText[t], spans = turnWords[t], at = text.indexOf(query), found = false;
      while (at >= 0) {
        matches++;
        found = true;
        for (var i = 0; i < spans.length; i++) {
          if (spans[i][0] < at + query.length && spans[i][1] > at && hits[hits.length - 1] !== spans[i][2]) {
            wordEls[spans[i][2]].classList.add("hit");
            hits.push(spans[i][2]);
          }
        }
        at = text.indexOf(query, at + query.length);
      }
      turnEls[t].hidden = !found;
      if (found) {
        shown++;
        var mark = el("span", "tl-hit");
        mark.style.left = (100 * turns[t][1] / duration).toFixed(4) + "%";
        marks.appendChild(mark);
      }
    }
    document.querySelector(".tl-hits").appendChild(marks);
    count.textContent = matches ? matches + (matches === 1 ? " match" : " matches") + " in " + shown +
      (shown === 1 ? " turn" : " turns") : "no matches";
  }

  function nextHit(back) {
    if (!hits.length) return;
    if (hitCursor >= 0) wordEls[hits[hitCursor]].classList.remove("hit-cur");
    hitCursor = (hitCursor + (back ? hits.length - 1 : 1)) % hits.length;
    var node = wordEls[hits[hitCursor]];
    node.classList.add("hit-cur");
    node.scrollIntoView({ block: "center" });
  }

  function bindSearch() {
    var box = document.getElementById("search"), timer = 0;
    box.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { search(box.value); }, 120);
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { window.clearTimeout(timer); if (!hits.length) search(box.value); nextHit(e.shiftKey); }
      if (e.key === "Escape") { box.value = ""; search(""); }
    });
  }

  // ---- keyboard -------------------------------------------------------------------------------------

  function bindKeys() {
    document.addEventListener("keydown", function (e) {
      var tag = e.target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "/") { e.preventDefault(); document.getElementById("search").focus(); return; }
      if (!player || tag === "BUTTON" || tag === "AUDIO" || tag === "VIDEO") return;
      if (e.key === " ") { e.preventDefault(); if (player.paused) player.play(); else player.pause(); }
      if (e.key === "ArrowLeft") { e.preventDefault(); seek(player.currentTime - 5); }
      if (e.key === "ArrowRight") { e.preventDefault(); seek(player.currentTime + 5); }
    });
  }

  function trackStage() {
    var stage = document.querySelector(".stage");
    function set() {
      var sticky = window.getComputedStyle(stage).position === "sticky";
      document.documentElement.style.setProperty("--stage-h", (sticky ? stage.offsetHeight + 16 : 16) + "px");
    }
    set();
    window.addEventListener("resize", set);
  }

  app.update = update;
  loadNames();
  buildHeader();
  buildSpeakers();
  buildTimeline();
  buildTranscript();
  viewer.initExports(app);
  viewer.initMedia(app);
  bindPlayer();
  bindSearch();
  bindKeys();
  trackStage();
  saveNames();
  update();
  document.documentElement.setAttribute("data-ready", "true");
  if (window.performance && performance.mark) performance.mark("diarize-ready");
})(window.diarizeViewer = window.diarizeViewer || {});
