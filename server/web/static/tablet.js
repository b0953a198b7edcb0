/* The volunteer's tablet: live prompts over server-sent events, feedback,
   the resident quiz. No libraries. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("tablet-config").textContent);
  var S = cfg.strings;
  var $ = function (id) { return document.getElementById(id); };
  var lastCursor = null, lastScan = null, source = null, retryDelay = 1000, lastMessage = Date.now();
  var current = null, audio = null, alertTimer = null, quizState = null;
  var csrf = (document.querySelector("input[name=csrf_token]") || {}).value || "";

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] != null ? values[k] : ""; });
  }
  function pct(v) { return v == null ? "—" : (v * 100).toFixed(1) + "%"; }
  function hhmm(ts) { var m = /T(\d\d:\d\d)/.exec(ts || ""); return m ? m[1] : ""; }

  /* ---- clock and connection state ---- */
  function tick() {
    // Beijing time, whatever the tablet's own time zone: the events' times are.
    var d = new Date(Date.now() + 8 * 3600 * 1000);
    $("clock").textContent = ("0" + d.getUTCHours()).slice(-2) + ":" + ("0" + d.getUTCMinutes()).slice(-2);
  }
  setInterval(tick, 5000); tick();
  function setOnline(on) {
    $("offline").hidden = on;
    $("conn-dot").className = "dot " + (on ? "on" : "off");
    document.body.classList.toggle("is-offline", !on);
  }

  /* ---- sound: a short two-tone beep made with WebAudio ---- */
  function beep() {
    if (!audio) return;
    try {
      var t = audio.currentTime;
      [[880, 0], [660, 0.22]].forEach(function (p) {
        var o = audio.createOscillator(), g = audio.createGain();
        o.type = "square"; o.frequency.value = p[0];
        g.gain.setValueAtTime(0.0001, t + p[1]);
        g.gain.exponentialRampToValueAtTime(0.35, t + p[1] + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t + p[1] + 0.2);
        o.connect(g); g.connect(audio.destination);
        o.start(t + p[1]); o.stop(t + p[1] + 0.21);
      });
    } catch (e) { /* no sound is better than no prompt */ }
  }
  $("start-btn").addEventListener("click", function () {
    try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
    var el = document.documentElement;
    if (el.requestFullscreen) { el.requestFullscreen().catch(function () {}); }
    $("start").hidden = true;
  });

  /* ---- counts and the recent list ---- */
  function showCounts(c) {
    ["disposals", "correct", "wrong", "assisted"].forEach(function (k) {
      $("c-" + k).textContent = c[k] != null ? c[k] : 0;
    });
    var judged = (c.correct || 0) + (c.wrong || 0);
    $("c-accuracy").textContent = pct(c.accuracy != null ? c.accuracy : (judged ? c.correct / judged : null));
  }
  function refreshCounts() {
    fetch(cfg.today, {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (c) { if (c) showCounts(c); }).catch(function () {});
  }
  var recent = [];
  function verdictLabel(ev) {
    if (ev.verdict === "correct") return S.correct;
    if (ev.verdict === "wrong") return S.wrong;
    return S.uncertain;
  }
  function renderRecent() {
    var ol = $("recent");
    ol.textContent = "";
    recent.forEach(function (ev) {
      var li = document.createElement("li");
      li.className = "ev " + (ev.verdict || "") + (ev.assisted ? " assisted" : "");
      li.dataset.id = ev.event_id;
      var sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = ev.colour;
      var txt = document.createElement("span"); txt.className = "evtext";
      txt.textContent = hhmm(ev.ts) + "  " + (ev.item_name || "?") + " → " + (ev.category_name || "?");
      var v = document.createElement("span"); v.className = "verdict";
      v.textContent = verdictLabel(ev) + (ev.verdict === "wrong" && ev.bin_name ? " · " + S.put_in + " " + ev.bin_name : "")
        + (ev.assisted ? " · " + S.assisted : "");
      li.appendChild(sw); li.appendChild(txt); li.appendChild(v);
      if (ev.type === "disposal" && cfg.may_correct) {
        var b1 = document.createElement("button"); b1.type = "button"; b1.className = "tsmall";
        b1.textContent = S.helped; b1.disabled = ev.assisted;
        b1.addEventListener("click", function () { sendFeedback(ev, {assisted: true}); });
        var b2 = document.createElement("button"); b2.type = "button"; b2.className = "tsmall";
        b2.textContent = S.camera_wrong;
        b2.addEventListener("click", function () { openPicker(ev); });
        li.appendChild(b1); li.appendChild(b2);
      }
      ol.appendChild(li);
    });
  }
  function remember(ev) {
    recent = recent.filter(function (e) { return e.event_id !== ev.event_id; });
    recent.unshift(ev);
    if (recent.length > 8) recent.length = 8;
    renderRecent();
  }

  /* ---- the prompt ---- */
  function showStatus(text, cls) {
    var box = $("status");
    box.className = "tstatus " + (cls || "");
    $("status-text").textContent = text;
  }
  /* Wrong prompts queue and collapse: the newest is shown, the older ones
     only counted ("+N"), and all stay in the recent list; the header (quiz,
     speech switch) is never covered, and an open quiz or picker is never
     covered by a prompt. */
  var PROMPT_MS = 8000, queued = 0;
  function busy() { return !$("quiz").hidden || !$("picker").hidden; }
  function showWrong(ev) {
    var box = $("alert");
    if (!box.hidden && current && current !== ev) queued += 1;
    current = ev;
    // The frame says "wrong" in no bin's colour; only the two chips carry the
    // bins' colours, so a wrong item for the green bin never looks "correct".
    var from = $("alert-from"), to = $("alert-to");
    from.textContent = ev.bin_name || "?"; from.style.background = ev.bin_colour;
    to.textContent = ev.category_name || "?"; to.style.background = ev.colour;
    $("alert-title").textContent = (ev.item_name || "?") + " → " + (ev.category_name || "?");
    $("alert-sub").textContent = fmt(cfg.please_use, {colour: ev.colour_name, colour_en: ev.colour_name, bin: ev.category_name});
    var icon = $("alert-icon"); icon.textContent = "";
    var tpl = document.getElementById("icon-" + ev.category);
    if (tpl) icon.appendChild(tpl.content.cloneNode(true));
    $("alert-note").textContent = "";
    $("alert-helped").disabled = !!ev.assisted;
    var more = $("alert-more");
    more.textContent = queued ? fmt(S.more_prompts, {n: queued}) : "";
    more.hidden = !queued;
    box.hidden = false;
    beep();
    clearTimeout(alertTimer);
    alertTimer = setTimeout(hideWrong, PROMPT_MS);
  }
  function hideWrong() { $("alert").hidden = true; clearTimeout(alertTimer); queued = 0; }

  /* ---- the spoken prompt: Mandarin, a zh-CN voice where there is one ---- */
  var SPEAK_KEY = "sortwatch.tablet.speak";
  var speakOn = true;
  try { speakOn = window.localStorage.getItem(SPEAK_KEY) !== "0"; } catch (e) { speakOn = true; }
  function showSpeak() {
    var b = $("speak-toggle");
    b.setAttribute("aria-pressed", speakOn ? "true" : "false");
    b.textContent = speakOn ? S.speech_on : S.speech_off;
  }
  $("speak-toggle").addEventListener("click", function () {
    speakOn = !speakOn;
    try { window.localStorage.setItem(SPEAK_KEY, speakOn ? "1" : "0"); } catch (e) { /* private mode */ }
    if (!speakOn) { try { window.speechSynthesis.cancel(); } catch (e) { /* none */ } }
    showSpeak();
  });
  showSpeak();
  function zhVoice() {
    try {
      var voices = window.speechSynthesis.getVoices() || [];
      return voices.filter(function (v) { return /^zh[-_]CN/i.test(v.lang || ""); })[0]
        || voices.filter(function (v) { return /^(zh|cmn)/i.test(v.lang || ""); })[0] || null;
    } catch (e) { return null; }
  }
  function speak(text) {
    if (!speakOn || !text) return;
    if (!window.speechSynthesis || typeof window.SpeechSynthesisUtterance !== "function") return;
    try {
      var u = new window.SpeechSynthesisUtterance(text);
      u.lang = "zh-CN";
      var v = zhVoice();
      if (v) u.voice = v;
      u.rate = 0.95;
      window.speechSynthesis.cancel();   // the newest prompt, not a backlog
      window.speechSynthesis.speak(u);
    } catch (e) { /* a silent tablet still shows the prompt */ }
  }
  function spokenWrong(ev) {
    return fmt(cfg.speech_wrong, {item: ev.item_name_zh || ev.item_name || "",
                                  bin: ev.bin_name_zh || ev.bin_name || "",
                                  right: ev.category_name_zh || ev.category_name || ""});
  }
  $("alert-ok").addEventListener("click", hideWrong);
  $("alert-helped").addEventListener("click", function () {
    if (current) sendFeedback(current, {assisted: true}, $("alert-note"));
  });
  $("alert-camera").addEventListener("click", function () { if (current) openPicker(current); });

  function onDisposal(ev) {
    remember(ev);
    queueAudit(ev);
    if (ev.verdict === "wrong") {
      if (!busy()) showWrong(ev);
      speak(spokenWrong(ev));
      showStatus(S.wrong_prompt + "  " + ev.item_name + " → " + ev.category_name, "bad");
    } else if (ev.verdict === "correct") {
      showStatus("✓ " + S.correct_prompt + "  " + ev.item_name + " → " + ev.category_name, "good");
    } else {
      showStatus(S.uncertain + "  " + (ev.item_name || ""), "");
    }
  }

  /* ---- feedback ---- */
  function sendFeedback(ev, body, note) {
    return fetch(fmt(cfg.feedback, {id: ev.event_id}), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function () {
      if (body.assisted) ev.assisted = true;
      if (body.item) { ev.item = body.item; ev.corrected = true; relabel(ev, body.item); }
      renderRecent(); refreshCounts();
      if (note) note.textContent = S.saved;
      if (current === ev) { $("alert-note").textContent = S.saved; $("alert-helped").disabled = !!ev.assisted; }
      return true;
    }).catch(function () {
      if (note) note.textContent = S.save_failed;
      if (current === ev) $("alert-note").textContent = S.save_failed;
      return false;
    });
  }
  function relabel(ev, item) {
    cfg.items.forEach(function (it) {
      if (it.key === item) {
        ev.item_name = it.name; ev.category = it.category;
        cfg.categories.forEach(function (c) { if (c.key === it.category) { ev.category_name = c.name; ev.colour = c.colour; } });
      }
    });
  }
  function openPicker(ev, onPick) {
    var grid = $("picker-grid"); grid.textContent = "";
    cfg.items.forEach(function (it) {
      var b = document.createElement("button"); b.type = "button"; b.className = "pick";
      b.textContent = it.name;
      b.dataset.item = it.key;
      b.addEventListener("click", function () {
        $("picker").hidden = true;
        if (onPick) { onPick(it); return; }
        sendFeedback(ev, {camera_wrong: true, item: it.key}).then(function (ok) {
          if (ok && current === ev) hideWrong();
        });
      });
      grid.appendChild(b);
    });
    $("picker").hidden = false;
  }

  /* ---- audit session (抽检): every disposal shown asks "was the camera
     right?"; the answer is stored beside the verdict and changes no count ---- */
  var auditing = false, auditQueue = [], audited = 0, auditCurrent = null;
  function showAudit() {
    $("audit").hidden = !auditing;
    $("audit-done").textContent = audited ? fmt(S.audit_done, {n: audited}) : "";
    auditCurrent = auditQueue.length ? auditQueue[0] : null;
    $("audit-empty").hidden = !!auditCurrent;
    $("audit-item").hidden = !auditCurrent;
    if (!auditCurrent) return;
    var ev = auditCurrent, judged = ev.verdict === "correct" || ev.verdict === "wrong";
    $("audit-what").textContent = hhmm(ev.ts) + "  " + (ev.item_name || "?") + " · " + S.put_in + " " +
      (ev.bin_name || "?") + " · " + fmt(S.audit_camera, {verdict: verdictLabel(ev)});
    $("audit-question").textContent = judged ? S.audit_question : S.audit_uncertain;
    $("audit-yes").hidden = !judged;
    $("audit-no").textContent = judged ? S.audit_no : S.audit_pick;
    $("audit-note").textContent = "";
  }
  function sendAudit(ev, body) {
    return fetch(fmt(cfg.audit, {id: ev.event_id}), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      auditQueue = auditQueue.filter(function (e) { return e !== ev; });
      audited += 1; showAudit();
    }).catch(function () { $("audit-note").textContent = S.save_failed; });
  }
  function queueAudit(ev) {
    if (!auditing || ev.type !== "disposal") return;
    auditQueue.push(ev);
    if (auditQueue.length > 20) auditQueue.shift();   // the oldest go unasked
    showAudit();
  }
  if ($("audit-toggle")) {
    $("audit-toggle").addEventListener("click", function () {
      auditing = !auditing; auditQueue = [];
      this.setAttribute("aria-pressed", auditing ? "true" : "false");
      this.textContent = auditing ? S.audit_stop : S.audit_start;
      showAudit();
    });
    $("audit-yes").addEventListener("click", function () {
      if (auditCurrent) sendAudit(auditCurrent, {truth: auditCurrent.verdict});
    });
    $("audit-no").addEventListener("click", function () {
      var ev = auditCurrent;
      if (!ev) return;
      openPicker(ev, function (it) {
        // the real item decides: right if this bin accepts it
        sendAudit(ev, {truth: it.bins.indexOf(ev.bin) >= 0 ? "correct" : "wrong", item: it.key});
      });
    });
    $("audit-skip").addEventListener("click", function () {
      auditQueue.shift(); showAudit();
    });
  }
  $("picker-cancel").addEventListener("click", function () { $("picker").hidden = true; });

  /* ---- the station's open cases, with "handled" for its volunteer ---- */
  function ageText(seconds) {
    var m = Math.max(0, Math.floor(seconds / 60)), h = Math.floor(m / 60);
    return h ? fmt(S.age_hm, {h: h, m: m % 60}) : fmt(S.age_m, {m: m});
  }
  function renderCases(list) {
    var ol = $("cases-list");
    ol.textContent = "";
    var open = list.filter(function (c) { return c.state === "open" || c.state === "dispatched"; });
    $("cases-empty").hidden = open.length > 0;
    open.forEach(function (c) {
      var li = document.createElement("li");
      li.dataset.case = c.id;
      var text = document.createElement("span"); text.className = "casetext";
      text.textContent = (S["kind_" + c.kind] || c.kind) + (c.bin ? " · " + c.bin : "") + " · "
        + ageText(c.age_seconds) + " · " + (S["state_" + c.state] || c.state);
      var level = document.createElement("span"); level.className = "caselevel";
      level.textContent = S["level_" + c.level_name] || c.level_name;
      li.appendChild(text); li.appendChild(level);
      if (cfg.may_correct) {
        var b = document.createElement("button");
        b.type = "button"; b.className = "tsmall case-handled"; b.textContent = S.case_handled;
        b.addEventListener("click", function () { markHandled(c, b); });
        li.appendChild(b);
      }
      ol.appendChild(li);
    });
  }
  function refreshCases() {
    fetch(cfg.cases, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (body) { if (body) renderCases(body.cases); }).catch(function () {});
  }
  function markHandled(c, button) {
    button.disabled = true;
    fetch(fmt(cfg.case_transition, {id: c.id}), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify({to: "resolved", note: S.case_handled_note})
    }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      refreshCases();
    }).catch(function () { button.disabled = false; showStatus(S.save_failed, "bad"); });
  }
  setInterval(refreshCases, 30000);

  /* ---- the live stream, reconnecting by itself ---- */
  function connect() {
    if (source) { source.close(); source = null; }
    var params = [];
    if (lastCursor != null) params.push("after=" + encodeURIComponent(lastCursor));
    if (lastScan != null) params.push("scan=" + encodeURIComponent(lastScan));   // cards read while away
    var url = cfg.stream + (params.length ? "?" + params.join("&") : "");
    var es = new EventSource(url);
    source = es;
    es.onopen = function () { retryDelay = 1000; lastMessage = Date.now(); setOnline(true); };
    function track(e) { lastMessage = Date.now(); if (e.lastEventId) lastCursor = e.lastEventId; setOnline(true); }
    es.addEventListener("disposal", function (e) { track(e); onDisposal(JSON.parse(e.data)); });
    es.addEventListener("bin_full", function (e) { track(e); refreshCases(); });
    es.addEventListener("litter", function (e) { track(e); refreshCases(); });
    es.addEventListener("counts", function (e) { track(e); showCounts(JSON.parse(e.data)); });
    es.addEventListener("ping", function (e) { track(e); });
    // A card read by the station's own reader: show that household at once.
    es.addEventListener("card", function (e) {
      lastMessage = Date.now(); setOnline(true);
      var c = JSON.parse(e.data);
      lastScan = c.scan;
      lookupCard(c.household, true);
    });
    es.onerror = function () {
      // The browser retries by itself after a dropped connection, but not
      // after a refusal (401, 403, 503): take over in both cases.
      if (es.readyState === EventSource.CLOSED || !navigator.onLine) {
        setOnline(false); scheduleReconnect();
      } else if (es.readyState === EventSource.CONNECTING) {
        setOnline(false);
      }
    };
  }
  var reconnectTimer = null;
  function scheduleReconnect() {
    if (reconnectTimer) return;
    if (source) { source.close(); source = null; }
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      fetch(cfg.me, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
        if (r.status === 401) { window.location.href = cfg.login; return; }
        connect();
      }).catch(function () { scheduleReconnect(); });
    }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  }
  setInterval(function () {
    // No message, not even a ping, for 40 s: the network is silently gone.
    if (Date.now() - lastMessage > 40000) { setOnline(false); lastMessage = Date.now(); scheduleReconnect(); }
  }, 5000);
  window.addEventListener("offline", function () { setOnline(false); });
  window.addEventListener("online", function () { scheduleReconnect(); });

  /* ---- the resident quiz ---- */
  function quizBody() {
    var body = {station_id: cfg.station, token: quizState.token, answers: quizState.answers};
    var household = $("quiz-household").value.trim();
    if (/^[A-Za-z0-9_-]{1,64}$/.test(household)) body.household = household;
    return body;
  }
  function itemName(key) {
    var found = cfg.items.filter(function (it) { return it.key === key; })[0];
    return found ? found.name : key;
  }
  function quizShow() {
    var q = quizState.questions[quizState.i];
    $("quiz-progress").textContent = fmt(S.quiz_progress, {i: quizState.i + 1, n: quizState.questions.length});
    $("quiz-q").textContent = fmt(S.quiz_question, {item: itemName(q.item)});
    $("quiz-choices").hidden = false; $("quiz-result").hidden = true;
  }
  $("quiz-open").addEventListener("click", function () {
    hideWrong();
    $("quiz").hidden = false;
    $("quiz-progress").textContent = ""; $("quiz-q").textContent = "…";
    $("quiz-choices").hidden = true; $("quiz-result").hidden = true;
    fetch(cfg.quiz_questions, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function (body) {
      quizState = {token: body.token, questions: body.questions, answers: [], i: 0};
      $("quiz-household").value = "";
      quizShow();
    }).catch(function () { $("quiz-q").textContent = S.quiz_unavailable; });
  });
  Array.prototype.forEach.call(document.querySelectorAll("#quiz-choices .choice"), function (b) {
    b.addEventListener("click", function () {
      if (!quizState) return;
      quizState.answers.push(b.dataset.cat);
      quizState.i += 1;
      if (quizState.i < quizState.questions.length) { quizShow(); return; }
      $("quiz-choices").hidden = true;
      $("quiz-q").textContent = "…";
      fetch(cfg.quiz, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify(quizBody())
      }).then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); }).then(function (res) {
        $("quiz-progress").textContent = "";
        var passed = res.passed;
        $("quiz-q").textContent = fmt(passed ? S.quiz_passed : S.quiz_failed, {k: res.score, n: res.of});
        var box = $("quiz-result"); box.textContent = "";
        (res.corrections || []).forEach(function (c) {
          // c.bin is the item's own bin; c.right says whether the answer was accepted
          var p = document.createElement("p");
          var cat = cfg.categories.filter(function (x) { return x.key === c.bin; })[0];
          p.textContent = (c.right ? "✓ " : "✗ ") + itemName(c.item) + " → " + (cat ? cat.name : c.bin);
          if (cat) p.style.borderLeft = "1.2rem solid " + cat.colour;
          p.className = c.right ? "right" : "wrong";
          box.appendChild(p);
        });
        box.hidden = false;
        quizState = null;
      }).catch(function () { $("quiz-q").textContent = S.quiz_unavailable; });
    });
  });
  $("quiz-close").addEventListener("click", function () { $("quiz").hidden = true; quizState = null; });

  /* ---- a household's card: points, its last disposals, redemptions ---- */
  var cardToken = null, redemptionId = null;
  function newRedemptionId() {
    // One id per redemption the volunteer means: a second press or a resend
    // after a dropped connection reuses it, so the server records it once.
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "r-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }
  function showCard(c) {
    cardToken = c.household; redemptionId = newRedemptionId();
    $("card-household").textContent = c.household;
    $("card-balance").textContent = c.points ? c.points.balance : "—";
    if (!c.points) $("card-note").textContent = S.card_no_points;
    var adv = $("card-advice");
    adv.hidden = !c.advice;
    if (c.advice) adv.textContent = fmt(S.card_advice, {item: c.advice.item_name, bins: c.advice.bin_names.join("、")});
    var list = $("card-recent"); list.textContent = "";
    c.recent.forEach(function (e) {
      var li = document.createElement("li");
      li.className = e.assisted ? "assisted" : e.verdict;
      li.textContent = hhmm(e.ts) + " " + (e.ts || "").slice(0, 10) + " · " + (e.item_name || "—") + " · "
        + (e.assisted ? S.assisted : (S[e.verdict] || e.verdict));
      list.appendChild(li);
    });
    $("card-result").hidden = false;
    if ($("redeem-form")) $("redeem-form").hidden = !c.points;
  }
  $("card-form").addEventListener("submit", function (e) {
    e.preventDefault();
    lookupCard($("card-token").value.trim(), false);
  });
  function lookupCard(token, fromReader) {
    $("card-note").textContent = "";
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(token)) { $("card-note").textContent = S.card_bad_token; return; }
    if (fromReader) $("card-token").value = token;
    fetch(cfg.household.replace("{token}", encodeURIComponent(token)), {credentials: "same-origin"}).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, status: r.status, body: body}; });
    }).then(function (res) {
      if (!res.ok) {
        $("card-result").hidden = true;
        $("card-note").textContent = res.status === 400 ? S.card_bad_token : ((res.body.error || {}).message || S.card_not_found);
        return;
      }
      showCard(res.body);
      if (fromReader) {
        if (res.body.points) $("card-note").textContent = S.card_from_reader;
        $("card").scrollIntoView({block: "nearest"});
      }
    }).catch(function () { $("card-note").textContent = S.card_not_found; });
  }
  if ($("redeem-form")) $("redeem-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!cardToken) return;
    var body = {redemption_id: redemptionId, points: parseInt($("redeem-points").value, 10),
                reward: $("redeem-reward").value.trim()};
    $("redeem-btn").disabled = true;
    fetch(cfg.household.replace("{token}", encodeURIComponent(cardToken)) + "/redemptions", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (b) { return {ok: r.ok, body: b}; });
    }).then(function (res) {
      $("redeem-btn").disabled = false;
      if (!res.ok) { $("card-note").textContent = (res.body.error || {}).message || S.save_failed; return; }
      $("card-balance").textContent = res.body.balance;
      $("card-note").textContent = fmt(S.redeemed, {points: res.body.points, reward: res.body.reward, balance: res.body.balance});
      redemptionId = newRedemptionId();        // the next redemption is a new one
      $("redeem-points").value = ""; $("redeem-reward").value = "";
    }).catch(function () {
      $("redeem-btn").disabled = false;
      $("card-note").textContent = S.redeem_retry;   // same id on the next press
    });
  });

  /* ---- start ---- */
  function measureBar() {
    var bar = document.querySelector(".tbar");
    if (bar) document.documentElement.style.setProperty("--tbar-h", bar.offsetHeight + "px");
  }
  window.addEventListener("resize", measureBar); measureBar();
  showCounts(cfg.counts);
  recent = cfg.recent.slice(0, 8);
  renderRecent();
  refreshCases();
  setOnline(true);
  connect();
})();
