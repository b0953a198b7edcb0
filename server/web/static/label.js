/* The labeller's page: the queue of learning samples (most uncertain first),
   one tap or key per label (the rule set's items in Chinese, then "not waste
   / not visible"), skip; the labelled ones below, to review and change.
   Skipped samples stay out of the queue for this browser session. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("label-config").textContent);
  var S = cfg.strings;
  var csrf = (document.querySelector("input[name=csrf_token]") || {}).value || "";
  var KEYS = "1234567890qwertyuiopadfghjklzxcvb";  // no S (skip) or N (not waste)
  var NOT_WASTE = "not_waste";
  function $(id) { return document.getElementById(id); }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] === undefined ? "" : values[k]; });
  }
  var queue = [], labels = [], current = null, reviewing = false, busy = false;
  var skipped = JSON.parse(sessionStorage.getItem("label-skipped") || "[]");

  function name(label) {
    for (var i = 0; i < labels.length; i++) {
      if (labels[i].label === label) return cfg.lang === "zh" ? labels[i].zh : labels[i].en;
    }
    return label;
  }
  var beijing = new Intl.DateTimeFormat("sv-SE", {timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit"});
  function when(iso) {
    /* Beijing time, whatever the offset stored (labels are kept in UTC) */
    var d = iso ? new Date(iso) : null;
    return d && !isNaN(d) ? beijing.format(d) : (iso || "");
  }
  function say(text) { $("label-note").textContent = text; }
  function api(url, body) {
    var init = {credentials: "same-origin", headers: {"X-CSRF-Token": csrf}};
    if (body) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) throw new Error((b.error && b.error.message) || r.status);
        return b;
      });
    });
  }

  function buttons() {
    var box = $("label-buttons");
    box.textContent = "";
    labels.forEach(function (l, i) {
      var b = document.createElement("button");
      b.type = "button";
      b.dataset.label = l.label;
      var key = l.label === NOT_WASTE ? "N" : KEYS.charAt(i).toUpperCase();
      b.dataset.key = key.toLowerCase();
      if (l.label === NOT_WASTE) b.className = "not-waste";
      b.textContent = cfg.lang === "zh" ? l.zh : l.en;
      var k = document.createElement("kbd");
      k.textContent = key;
      b.appendChild(k);
      b.addEventListener("click", function () { pick(l.label); });
      box.appendChild(b);
    });
  }

  function show(sample, review) {
    current = sample;
    reviewing = !!review;
    var has = !!sample;
    $("label-current").hidden = !has;
    $("label-empty").hidden = has;
    $("label-reviewing").hidden = !(has && reviewing);
    if (!has) return;
    $("label-image").src = sample.image_url || "";
    $("label-image").alt = name(sample.item);
    $("label-model").textContent = fill(S.label_model_said, {item: name(sample.item),
      conf: Math.round(sample.confidence * 100) + "%"});
    $("label-where").textContent = fill(S.label_station, {station: sample.station_id, time: when(sample.ts)});
    var r = $("label-reviewing");
    if (reviewing) {
      r.textContent = fill(S.label_reviewing, {label: name(sample.label), who: sample.label_by,
        role: S["role_" + sample.label_role] || sample.label_role, time: when(sample.label_at)});
    }
  }

  function review(rows) {
    var body = document.querySelector("#label-review tbody");
    body.textContent = "";
    rows.forEach(function (s) {
      var tr = document.createElement("tr");
      tr.className = "labelled";
      tr.dataset.id = s.event_id;
      var img = document.createElement("td");
      if (s.image_url) { var i = document.createElement("img"); i.src = s.image_url; i.alt = ""; img.appendChild(i); }
      tr.appendChild(img);
      [name(s.label), s.label_by + " · " + (S["role_" + s.label_role] || s.label_role), when(s.label_at)]
        .forEach(function (text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); });
      var td = document.createElement("td"), b = document.createElement("button");
      b.type = "button"; b.className = "change"; b.textContent = S.label_change;
      b.addEventListener("click", function () { show(s, true); window.scrollTo(0, 0); });
      td.appendChild(b); tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  function load() {
    var q = cfg.samples + "?state=queue&limit=20&skip=" + encodeURIComponent(skipped.slice(-200).join(","));
    return Promise.all([api(q), api(cfg.samples + "?state=labelled&limit=30")]).then(function (both) {
      var body = both[0];
      queue = body.samples;
      if (body.labels.length) { labels = body.labels; buttons(); }
      if (both[1].labels.length && !labels.length) { labels = both[1].labels; buttons(); }
      $("label-counts").textContent = fill(S.label_left, {left: body.counts.total - body.counts.labelled,
        labelled: body.counts.labelled, total: body.counts.total});
      review(both[1].samples);
      if (!reviewing) show(queue[0] || null);
    }, function (e) { say(S.label_failed + " (" + e.message + ")"); });
  }

  function next() {
    queue.shift();
    if (queue.length) { show(queue[0]); return Promise.resolve(); }
    return load();
  }

  function pick(label) {
    if (!current || busy) return;
    busy = true;
    api("/api/v1/samples/" + current.event_id + "/label", {label: label}).then(function () {
      say(fill(S.label_saved, {label: name(label)}));
      if (reviewing) { reviewing = false; return load(); }
      return next().then(function () { return api(cfg.samples + "?state=labelled&limit=30"); })
        .then(function (b) { review(b.samples); });
    }, function (e) { say(S.label_failed + " (" + e.message + ")"); })
      .then(function () { busy = false; });
  }

  function skip() {
    if (!current) return;
    if (reviewing) { reviewing = false; show(queue[0] || null); return; }
    skipped.push(current.event_id);
    sessionStorage.setItem("label-skipped", JSON.stringify(skipped.slice(-200)));
    next();
  }

  $("label-skip").addEventListener("click", skip);
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || /INPUT|SELECT|TEXTAREA/.test(ev.target.tagName)) return;
    var key = ev.key.toLowerCase();
    if (key === " " || key === "s") { ev.preventDefault(); skip(); return; }
    var b = document.querySelector('#label-buttons button[data-key="' + key + '"]');
    if (b) { ev.preventDefault(); pick(b.dataset.label); }
  });
  load();
})();
