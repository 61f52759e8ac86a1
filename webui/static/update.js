// The Maintenance page's firmware update: upload a bundle with a progress
// bar (POST /api/update?stage=1: verified, nothing written), show its
// manifest, install it (POST /api/update/install), then follow the restart
// (GET /api/update until the adapter answers again).
(function () {
  "use strict";
  var form = document.getElementById("update-form");
  if (!form) return;
  var token = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var $ = function (id) { return document.getElementById(id); };
  var msg = $("update-message"), bar = $("update-progress"), barRow = $("update-progress-row"),
    barText = $("update-progress-text"), manifest = $("update-manifest");

  function say(text, bad) {
    msg.textContent = text;
    msg.className = bad ? "error" : "";
  }
  function mib(n) { return n < 1048576 ? Math.ceil(n / 1024) + " KiB" : (n / 1048576).toFixed(1) + " MiB"; }
  function errorOf(xhr) {
    try { return JSON.parse(xhr.responseText).error || xhr.statusText; } catch (e) { return xhr.statusText || "no answer"; }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = $("f-bundle").files[0];
    if (!file) { say("Choose a bundle file first.", true); return; }
    manifest.hidden = true;
    say("");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/update?stage=1" + ($("f-force").checked ? "&force=1" : ""));
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    barRow.hidden = false;
    bar.value = 0;
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      bar.value = Math.round(100 * e.loaded / e.total);
      barText.textContent = mib(e.loaded) + " of " + mib(e.total) + (e.loaded === e.total ? ": checking…" : "");
    };
    xhr.onload = function () {
      barRow.hidden = true;
      if (xhr.status !== 200) { say("Refused, nothing was written: " + errorOf(xhr), true); return; }
      var a = JSON.parse(xhr.responseText), m = a.manifest;
      $("um-version").textContent = m.version;
      $("um-board").textContent = m.board;
      $("um-built").textContent = new Date(m.built * 1000).toLocaleString();
      $("um-size").textContent = mib(m.image.compressed_size) + " (slot image " + mib(m.image.size) + ")";
      $("um-signature").textContent = "OK (key " + a.key_id + "), hash OK";
      manifest.hidden = false;
      say("Checked: nothing is written until you install it.");
    };
    xhr.onerror = function () { barRow.hidden = true; say("The upload failed (connection lost).", true); };
    xhr.send(file);
  });

  function post(path) {
    return fetch(path, { method: "POST", headers: { "X-CSRF-Token": token }, credentials: "same-origin" });
  }

  $("update-discard").addEventListener("click", function () {
    post("/api/update/discard").then(function () { manifest.hidden = true; say("Discarded."); });
  });

  $("update-install").addEventListener("click", function () {
    var version = $("um-version").textContent;
    $("update-install").disabled = true;
    say("Writing the other slot and reading it back…");
    post("/api/update/install").then(function (r) {
      return r.json().then(function (body) {
        if (r.status !== 202) throw new Error(body.error || r.statusText);
        manifest.hidden = true;
        say("Installed. The adapter restarts into " + version + "; this page follows it…");
        follow(version, Date.now());
      });
    }).catch(function (e) {
      $("update-install").disabled = false;
      say("Not installed: " + e.message, true);
    });
  });

  // follow polls until the adapter answers again, then shows the result.
  function follow(version, since) {
    var down = false;
    (function poll() {
      fetch("/api/update", { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) {
          say("The adapter is back. Log in again to see how the update went (Status and this page show it).");
          window.setTimeout(function () { window.location = "/login?next=%2Fmaintenance%23update"; }, 3000);
          return;
        }
        return r.json().then(function (st) {
          if (!down && st.installing) { window.setTimeout(poll, 2000); return; }
          if (st.running_version === version && !st.trying) { say("Version " + version + " runs and has committed itself."); window.setTimeout(function () { window.location.reload(); }, 2000); return; }
          if (st.last && st.last.outcome === "rolled back" && st.last.version === version) { say("The update was rolled back: " + st.last.reason, true); return; }
          say((st.trying ? "Version " + st.running_version + " is on trial: waiting for it to be healthy…" : "Waiting for the adapter…") + " (" + Math.round((Date.now() - since) / 1000) + " s)");
          window.setTimeout(poll, 2000);
        });
      }).catch(function () {
        down = true;
        say("Restarting… (" + Math.round((Date.now() - since) / 1000) + " s)");
        window.setTimeout(poll, 2000);
      });
    })();
  }
})();
