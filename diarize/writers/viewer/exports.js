/* diarize transcript viewer, downloads: the transcript in JSON, SRT, WebVTT and Markdown with the names given in
   the page, and names.csv for `diarize run --speaker-names @names.csv`. The page carries each format with speaker
   markers in place of the labels (diarize/writers/viewer/exports.py); viewer.js calls viewer.initExports(app). */
(function (viewer) {
  "use strict";

  var TYPES = { json: "application/json", srt: "application/x-subrip", vtt: "text/vtt", md: "text/markdown",
                names: "text/csv" };
  var NAMES_MARKER = "\uE0FF";

  // The block's base64 of gzip of a JSON object: format -> text.
  function unpack(b64) {
    var bin = window.atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  function vttEscape(name) { return name.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }

  var ESCAPES = {
    json: function (name) { return JSON.stringify(name).slice(1, -1); },
    srt: function (name) { return name; },
    vtt: vttEscape,
    md: function (name) { return name.replace(/([\\`*[\]<>|])/g, "\\$1"); }
  };

  function csvField(value) {
    return /[",\r\n]|^\s|\s$/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }

  viewer.initExports = function (app) {
    var block = document.getElementById("diarize-exports");
    var status = document.getElementById("export-status");
    var base = app.data.marker_base || 0xE100;
    var markers = new RegExp("[" + String.fromCharCode(base) + "-\uF8FF]\uE000*", "g");
    var texts = null;

    function load() {
      if (!texts) {
        texts = (window.DecompressionStream ? unpack(block.textContent.trim()) : Promise.reject(new Error("old browser")))
          .catch(function () { return {}; });
      }
      return texts;
    }

    function nameOf(m) { return app.names[m.charCodeAt(0) - base]; }

    // The speakers renamed in the page: label -> name, in speaker order.
    function renamed() {
      var out = {};
      app.speakers.forEach(function (s, i) { if (!s.unknown && app.names[i] !== s.label) out[s.label] = app.names[i]; });
      return out;
    }

    // The STYLE block names each voice inside a CSS string: a name that cannot stand there loses its colour.
    function vttStyle(block) {
      var rules = block.split("\n").slice(1).filter(function (rule) {
        var m = rule.match(markers);
        return !m || !/["\\]/.test(nameOf(m[0]));
      }).map(function (rule) { return rule.replace(markers, nameOf); });
      return rules.length ? "STYLE\n" + rules.join("\n") : null;
    }

    function named(fmt, text) {
      if (fmt === "vtt") {
        text = text.split("\n\n").map(function (part) {
          return part.indexOf("STYLE\n") === 0 ? vttStyle(part) : part;
        }).filter(function (part) { return part !== null; }).join("\n\n");
      }
      if (fmt === "json") {
        var at = text.indexOf('"' + NAMES_MARKER + '"');
        if (at >= 0) {
          var indent = text.slice(text.lastIndexOf("\n", at) + 1).match(/^ */)[0];
          var mapping = JSON.stringify(renamed(), null, 2).split("\n").join("\n" + indent);
          text = text.slice(0, at) + mapping + text.slice(at + NAMES_MARKER.length + 2);
        }
        // a speaker record's "name" is null for a label the speaker stage made (diarize.talk.speaker_stats)
        text = text.replace(new RegExp('"name": "(' + markers.source + ')"', "g"), function (all, m) {
          return '"name": ' + (/^SPEAKER_\d+$/.test(nameOf(m)) ? "null" : JSON.stringify(nameOf(m)));
        });
      }
      var escape = ESCAPES[fmt];
      return text.replace(markers, function (m) { return escape(nameOf(m)); });
    }

    // The transcript in `fmt` with the page's names (a promise; null when the page has no such text).
    app.exportText = function (fmt) {
      return load().then(function (all) { return typeof all[fmt] === "string" ? named(fmt, all[fmt]) : null; });
    };

    app.namesCsv = function () {
      var rows = ["label,name"], names = renamed();
      Object.keys(names).forEach(function (label) { rows.push(csvField(label) + "," + csvField(names[label])); });
      return rows.join("\n") + "\n";
    };

    function clash() {
      var seen = {};
      for (var i = 0; i < app.names.length; i++) {
        if (seen[app.names[i]]) return app.names[i];
        seen[app.names[i]] = true;
      }
      return null;
    }

    function save(fileName, text, type) {
      var url = URL.createObjectURL(new Blob([text], { type: type + ";charset=utf-8" }));
      var a = app.el("a");
      a.href = url;
      a.download = fileName;
      a.hidden = true;
      document.body.appendChild(a);
      a.click();
      a.remove();
      window.setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
    }

    function exportAs(fmt) {
      var twice = clash();
      if (twice) { status.textContent = "Two speakers are both called " + twice + ": give each its own name first."; return; }
      var stem = app.data.stem || "transcript";
      if (fmt === "names") {
        save(stem + ".names.csv", app.namesCsv(), TYPES.names);
        status.textContent = "Saved " + stem + ".names.csv: diarize run FILE --speaker-names @" + stem + ".names.csv";
        return;
      }
      app.exportText(fmt).then(function (text) {
        if (text === null) { status.textContent = "This page cannot rebuild the " + fmt.toUpperCase() + " file."; return; }
        save(stem + "." + fmt, text, TYPES[fmt]);
        status.textContent = "Saved " + stem + "." + fmt + ".";
      });
    }

    document.querySelector(".export-buttons").addEventListener("click", function (e) {
      var button = e.target.closest("button[data-export]");
      if (button) exportAs(button.getAttribute("data-export"));
    });
    load().then(function (all) {
      document.querySelectorAll("button[data-export]").forEach(function (button) {
        var fmt = button.getAttribute("data-export");
        button.disabled = fmt !== "names" && typeof all[fmt] !== "string";
      });
    });
  };
})(window.diarizeViewer = window.diarizeViewer || {});
