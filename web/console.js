// The consoles' own script: the clocks tick between two live updates, the waiting clocks
// turn amber and red as they near the three-ring threshold, refusals of a click are shown,
// and a lost live stream is said so. Times come from the engine's wall clock: the page
// carries the engine's time when it was rendered, so a browser clock set wrong does not
// matter.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="engine-ms"]');
  var engineAtLoad = meta ? Number(meta.content) : 0;
  var offset = engineAtLoad > 0 ? engineAtLoad - Date.now() : 0;

  function now() {
    return Date.now() + offset;
  }

  function text(secs) {
    var s = Math.max(0, Math.floor(secs));
    var h = Math.floor(s / 3600);
    var m = Math.floor(s / 60) % 60;
    var ss = String(s % 60).padStart(2, "0");
    return h > 0 ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  }

  function tick() {
    var t = now();
    document.querySelectorAll(".clock[data-at]").forEach(function (el) {
      el.textContent = text((t - Number(el.dataset.at)) / 1000);
    });
    document.querySelectorAll(".clock[data-until]").forEach(function (el) {
      el.textContent = text((Number(el.dataset.until) - t) / 1000);
    });
    document.querySelectorAll("[data-near]").forEach(function (el) {
      var over = t >= Number(el.dataset.over);
      el.classList.toggle("over", over);
      el.classList.toggle("near", !over && t >= Number(el.dataset.near));
    });
  }

  function flash(message) {
    var el = document.getElementById("flash");
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(function () { el.hidden = true; }, 6000);
  }

  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    flash(xhr && xhr.responseText ? xhr.responseText : "HTTP " + (xhr ? xhr.status : "?"));
  });
  document.addEventListener("htmx:sendError", function () {
    flash(document.getElementById("lost").textContent);
  });
  // A live stream that keeps failing is most often a session that ended: reloading the page
  // leads to the sign-in page if so.
  var sseErrors = 0;
  document.addEventListener("htmx:sseError", function () {
    var el = document.getElementById("lost");
    if (el) el.hidden = false;
    sseErrors += 1;
    if (sseErrors >= 3) location.reload();
  });
  document.addEventListener("htmx:sseOpen", function () {
    var el = document.getElementById("lost");
    if (el) el.hidden = true;
    sseErrors = 0;
  });
  // The operator's search: as the text is typed, only the directory's entries holding it
  // stay shown (number or name); kept as the live part is replaced.
  function filter() {
    var box = document.getElementById("search");
    if (!box) return;
    var words = box.value.trim().toLowerCase();
    document.querySelectorAll("#directory tbody tr").forEach(function (row) {
      row.hidden = words !== "" && (row.dataset.search || "").indexOf(words) < 0;
    });
  }
  document.addEventListener("input", function (e) {
    if (e.target && e.target.id === "search") filter();
  });

  document.addEventListener("htmx:sseMessage", function () {
    tick();
    filter();
  });

  // The report's chart: answered and abandoned as bars side by side per line of the report,
  // the service level as points on its own percent scale.
  function chart() {
    var data = document.getElementById("chart-data");
    var box = document.getElementById("chart");
    if (!data || !box || !window.uPlot) return;
    var d = JSON.parse(data.textContent);
    var xs = d.keys.map(function (_, i) { return i; });
    var bars = function (align) {
      return uPlot.paths.bars({ size: [0.35, 60], align: align });
    };
    var opts = {
      width: Math.max(320, box.clientWidth),
      height: 260,
      scales: { x: { time: false, range: [-0.5, xs.length - 0.5] }, pct: { range: [0, 100] } },
      axes: [
        { values: function (_, ticks) { return ticks.map(function (t) { return d.keys[t] === undefined ? "" : d.keys[t]; }); },
          splits: function () { return xs; } },
        {},
        { scale: "pct", side: 1, grid: { show: false }, values: function (_, t) { return t.map(function (v) { return v + "%"; }); } }
      ],
      series: [
        { label: "" },
        { label: d.labels[0], fill: "#1d5fa8", stroke: "#1d5fa8", paths: bars(-1), points: { show: false } },
        { label: d.labels[1], fill: "#b3261e", stroke: "#b3261e", paths: bars(1), points: { show: false } },
        { label: d.labels[2], scale: "pct", stroke: "#1f7a3a", width: 0, points: { show: true, size: 10, fill: "#1f7a3a" } }
      ]
    };
    new uPlot(opts, [xs, d.answered, d.abandoned, d.service_level], box);
  }

  tick();
  chart();
  setInterval(tick, 1000);
})();
