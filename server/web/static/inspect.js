/* The inspector's phone page: count a spot check live (正确 / 错误, the
   running 查N错M) or enter a finished one; both are saved through
   POST /api/v1/inspections, then the page reloads to list it. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("inspect-config").textContent);
  var S = cfg.strings;
  var csrf = (document.querySelector("input[name=csrf_token]") || {}).value || "";
  function $(id) { return document.getElementById(id); }
  var count = null;   // {start, marks: [true for wrong, false for right]}

  function offsetIso(date) {
    /* local time with the phone's offset, as the API wants it */
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    var off = -date.getTimezoneOffset(), sign = off >= 0 ? "+" : "-";
    off = Math.abs(off);
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) +
      sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60);
  }
  function say(text) { $("inspect-note").textContent = text; }
  function station() {
    var id = $("station").value;
    if (!id) say(S.inspect_pick_station);
    return id;
  }
  function save(body) {
    return fetch(cfg.api, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) throw new Error((b.error && b.error.message) || r.status);
        return b;
      });
    }).then(function () { say(S.saved); window.location.reload(); },
            function (e) { say(S.save_failed + " (" + e.message + ")"); });
  }
  function tally() {
    var wrong = count.marks.filter(Boolean).length;
    $("tally").textContent = S.inspect_checked_wrong.replace("{checked}", count.marks.length)
      .replace("{wrong}", wrong);
  }
  $("live-start").addEventListener("click", function () {
    if (!station()) return;
    count = {start: new Date(), marks: []};
    $("live-start").hidden = true; $("live-counting").hidden = false; tally();
  });
  $("count-right").addEventListener("click", function () { count.marks.push(false); tally(); });
  $("count-wrong").addEventListener("click", function () { count.marks.push(true); tally(); });
  $("count-undo").addEventListener("click", function () { count.marks.pop(); tally(); });
  $("live-stop").addEventListener("click", function () {
    var id = station();
    if (!id) return;
    var end = new Date();
    if (end - count.start < 1000) end = new Date(count.start.getTime() + 1000);
    save({station_id: id, start: offsetIso(count.start), end: offsetIso(end),
          checked: count.marks.length, wrong: count.marks.filter(Boolean).length});
  });
  $("manual").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = station();
    if (!id) return;
    var f = e.target;
    save({station_id: id, start: offsetIso(new Date(f.start.value)), end: offsetIso(new Date(f.end.value)),
          checked: parseInt(f.checked.value, 10), wrong: parseInt(f.wrong.value, 10), note: f.note.value});
  });
})();
