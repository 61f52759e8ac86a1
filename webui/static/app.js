// openata web UI: progressive enhancement only. Every page works without
// this file; with it the status page updates live (server-sent events),
// help texts and the phone menu open on demand, and the in-page
// confirmations open without a round trip.
"use strict";

(function () {
  // A restart or reset asks again in the page. Without this the first
  // button posts (without confirm=1) and the server shows the same
  // confirmation; here it opens at once. Cancel closes it again.
  function inlineConfirms() {
    document.querySelectorAll("form[data-confirm-with]").forEach(function (step) {
      var box = document.getElementById(step.getAttribute("data-confirm-with"));
      if (!box) return;
      step.addEventListener("submit", function (ev) {
        ev.preventDefault();
        step.hidden = true;
        box.hidden = false;
        var title = box.querySelector("[tabindex='-1']");
        if (title) title.focus();
      });
    });
    document.querySelectorAll("[data-cancel]").forEach(function (cancel) {
      var step = document.getElementById(cancel.getAttribute("data-cancel"));
      var box = cancel.closest(".confirm");
      if (!step || !box) return;
      cancel.addEventListener("click", function (ev) {
        ev.preventDefault();
        box.hidden = true;
        step.hidden = false;
        var b = step.querySelector("button[type=submit]");
        if (b) b.focus();
      });
    });
  }

  // A "?" button shows or hides its field's help text.
  function helpToggles() {
    document.querySelectorAll("button.help-toggle").forEach(function (b) {
      var help = document.getElementById(b.getAttribute("aria-controls"));
      if (!help) return;
      b.addEventListener("click", function () {
        var open = b.getAttribute("aria-expanded") !== "true";
        b.setAttribute("aria-expanded", String(open));
        help.hidden = !open;
      });
    });
  }

  // On a phone the menu folds behind a button (CSS shows the button only
  // there); Escape folds it again.
  function menuToggle() {
    var b = document.querySelector("button.menu-toggle"), nav = document.getElementById("main-nav");
    if (!b || !nav) return;
    function set(open) {
      b.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("open", open);
    }
    b.addEventListener("click", function () { set(b.getAttribute("aria-expanded") !== "true"); });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && nav.classList.contains("open")) { set(false); b.focus(); }
    });
  }

  // The proxy fields mean nothing while the proxy is off: grey them out.
  function proxyToggle() {
    var box = document.getElementById("f-proxy_active");
    if (!box) return;
    var fields = ["f-proxy_host", "f-proxy_port"].map(function (id) { return document.getElementById(id); });
    function sync() { fields.forEach(function (f) { if (f) f.readOnly = !box.checked; }); }
    box.addEventListener("change", sync);
    sync();
  }

  // A feature that only matters with another one (transfer on hang-up
  // with three-way calling) is greyed out while that one is off. Greyed,
  // not disabled: a disabled box would not be posted and so be saved off.
  function needsToggle() {
    document.querySelectorAll("[data-needs]").forEach(function (field) {
      var box = document.getElementById(field.getAttribute("data-needs"));
      if (!box) return;
      function sync() { field.classList.toggle("dim", !box.checked); }
      box.addEventListener("change", sync);
      sync();
    });
  }

  // Choosing as first codec what was second swaps the two, instead of
  // leaving a duplicate for the server to refuse.
  function codecSwap() {
    var first = document.getElementById("f-codec1"), second = document.getElementById("f-codec2");
    if (!first || !second) return;
    var prev = first.value;
    first.addEventListener("change", function () {
      if (second.value === first.value) second.value = prev;
      prev = first.value;
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (h >= 24) return Math.floor(h / 24) + "d " + (h % 24) + ":" + pad(m) + ":" + pad(sec);
    return (h > 0 ? h + ":" + pad(m) : m) + ":" + pad(sec);
  }

  // idle makes a card with nothing to show one line (style.css).
  function setIdle(id, idle) {
    var card = document.getElementById(id);
    if (card) card.classList.toggle("idle", idle);
  }

  function renderLines(lines) {
    var body = document.getElementById("lines");
    if (!body) return;
    body.textContent = "";
    // No line: the table hides and the card says so in one line.
    setIdle("lines-card", !lines.length);
    body.closest("table").hidden = !lines.length;
    var none = document.getElementById("no-lines");
    if (none) none.hidden = lines.length > 0;
    lines.forEach(function (l) {
      var tr = el("tr");
      tr.append(el("td", "aor", l.number + "@" + l.domain));
      var td = el("td");
      td.append(el("span", "badge " + l.state, l.label));
      if (l.messages) td.append(el("span", "badge mwi" + (l.messages_waiting || l.new_messages > 0 ? " waiting" : ""), l.messages));
      if (l.detail) td.append(el("span", "detail", l.detail));
      if (l.security) td.append(el("span", "detail" + (l.tls_unverified ? " warn" : ""), l.security));
      tr.append(td);
      body.append(tr);
    });
  }

  // Durations tick between events: each call's duration_s counts from the
  // moment its event arrived.
  var callClock = { at: 0, calls: [] };

  function tickDurations() {
    var elapsed = (Date.now() - callClock.at) / 1000;
    callClock.calls.forEach(function (c) {
      c.el.textContent = duration(c.s + elapsed);
    });
  }

  function renderCalls(calls) {
    var box = document.getElementById("calls");
    if (!box) return;
    box.textContent = "";
    callClock = { at: Date.now(), calls: [] };
    setIdle("phone-card", !calls.length);
    if (!calls.length) { box.append(el("p", "muted empty", "No call.")); return; }
    calls.forEach(function (c) {
      var card = el("article", "call");
      card.setAttribute("data-role", c.role || "");
      var head = el("p", "call-head"), badge = el("span", "badge role", c.label || c.role || "Call");
      badge.setAttribute("data-role", c.role || "");
      head.append(badge);
      if (c.far_held) head.append(el("span", "badge far-held", "Far end holds"));
      var dl = el("dl"), dur = el("dd", "call-duration", duration(c.duration_s));
      dl.append(el("dt", "", "Number"), el("dd", "call-number", c.number + (c.name ? " (" + c.name + ")" : "")));
      dl.append(el("dt", "", "Direction"), el("dd", "", c.direction === "in" ? "Incoming" : "Outgoing"));
      dl.append(el("dt", "", "Duration"), dur);
      if (c.codec) {
        dl.append(el("dt", "", "Codec"), el("dd", "", c.codec),
          el("dt", "", "Encryption"), el("dd", "call-srtp", c.srtp ? "SRTP" : "none"));
        [
          ["Packet loss", (c.loss * 100).toFixed(1) + " %"],
          ["Jitter", Math.round(c.jitter_ms) + " ms"],
          ["Round trip", c.rtt_ms ? Math.round(c.rtt_ms) + " ms" : "–"],
          ["MOS", c.mos ? c.mos.toFixed(2) : "–"]
        ].forEach(function (r) { dl.append(el("dt", "", r[0]), el("dd", "", r[1])); });
      }
      if (c.echo) dl.append(el("dt", "", "Echo canceller"), el("dd", "call-echo", c.echo));
      if (c.pass_through) dl.append(el("dt", "", "Fax/modem"), el("dd", "call-pass", "pass-through"));
      card.append(head, dl);
      box.append(card);
      callClock.calls.push({ el: dur, s: c.duration_s });
    });
  }

  // Router mode's card: the users registered and every routed call with
  // both legs; hidden while router mode is off (router is null).
  function renderRouter(r) {
    var card = document.getElementById("router-card"), box = document.getElementById("router-calls");
    if (!card || !box) return;
    card.hidden = !r;
    if (!r) return;
    var blocked = r.blocked_sources ? ", " + r.blocked_sources + (r.blocked_sources === 1 ? " source blocked" : " sources blocked") : "";
    setText("router-summary", r.users_registered + " of " + r.users.length + " users registered" + blocked);
    box.textContent = "";
    if (!r.calls.length) { box.append(el("p", "muted empty", "No routed call.")); return; }
    r.calls.forEach(function (c) {
      var card = el("article", "call routed"), head = el("p", "call-head");
      card.setAttribute("data-state", c.state);
      var answered = c.state === "answered";
      var badge = el("span", "badge role", answered ? "Connected" : "Ringing");
      badge.setAttribute("data-role", answered ? "active" : "ringing");
      head.append(badge, el("span", "routed-text", c.text));
      var dur = el("span", "call-duration", duration(c.duration_s)), p = el("p", "routed-duration", "Duration ");
      p.append(dur);
      var table = el("table", "legs"), hr = el("tr"), body = el("tbody");
      [["Leg", ""], ["Codec", ""], ["Loss", "num"], ["Jitter", "num"], ["MOS", "num"]].forEach(function (h) {
        var th = el("th", h[1], h[0]);
        th.scope = "col";
        hr.append(th);
      });
      table.append(el("thead"), body);
      table.tHead.append(hr);
      c.legs.forEach(function (l) {
        var tr = el("tr");
        tr.setAttribute("data-side", l.side);
        tr.append(el("td", "", l.label), el("td", "", l.codec || "–"),
          el("td", "num", l.codec ? (l.loss * 100).toFixed(1) + " %" : "–"),
          el("td", "num", l.codec ? Math.round(l.jitter_ms) + " ms" : "–"),
          el("td", "num", l.mos ? l.mos.toFixed(2) : "–"));
        body.append(tr);
      });
      card.append(head, p, table);
      box.append(card);
      callClock.calls.push({ el: dur, s: c.duration_s });
    });
  }

  function setText(id, text) {
    var e = document.getElementById(id);
    if (e) e.textContent = text;
  }

  function liveStatus() {
    if (document.body.getAttribute("data-page") !== "status" || !window.EventSource) return;
    var live = document.getElementById("live");
    var src = new EventSource("/api/events");
    window.setInterval(tickDurations, 1000);
    src.addEventListener("open", function () {
      live.textContent = "Live";
      live.classList.add("on");
    });
    src.addEventListener("error", function () {
      live.classList.remove("on");
      callClock.calls = []; // not live: durations stop rather than guess
      if (src.readyState === EventSource.CLOSED) {
        // Refused (the session ended): the status page itself needs a login.
        live.textContent = "Not updating: reload the page.";
        return;
      }
      live.textContent = "Connection lost: retrying…";
    });
    src.addEventListener("logout", function () {
      src.close();
      window.location.href = "/login?next=%2F";
    });
    src.addEventListener("status", function (ev) {
      var s = JSON.parse(ev.data);
      renderLines(s.lines || []);
      renderCalls(s.calls || (s.call ? [s.call] : []));
      renderRouter(s.router || null);
      setText("hook", s.hook === "off" ? "Off hook" : "On hook");
      setText("phone-state", s.phone);
      setText("uptime", duration(s.uptime_s));
      setText("calls-total", String(s.calls_total));
      setText("audio-xruns", String(s.audio_xruns || 0));
      setText("addresses", (s.addresses || []).join(", ") || "–");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    inlineConfirms();
    helpToggles();
    menuToggle();
    proxyToggle();
    needsToggle();
    codecSwap();
    liveStatus();
  });
})();
