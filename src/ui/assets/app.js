// riverlite dashboard: live refresh of the figures, its pause control, and
// "select all". Everything else works without script.
(function () {
  "use strict";
  var KEY = "riverlite.live";
  var EVERY_MS = 5000;

  function live() {
    return window.localStorage.getItem(KEY) !== "off";
  }

  function label(button) {
    button.textContent = live() ? "Live updates: on" : "Live updates: paused";
    button.setAttribute("aria-pressed", live() ? "true" : "false");
  }

  // Someone is choosing jobs or typing a filter: leave the page alone.
  function busy() {
    var focused = document.activeElement;
    return document.querySelector("input[name=id]:checked") !== null ||
      (focused && /^(INPUT|SELECT|TEXTAREA)$/.test(focused.tagName));
  }

  function refresh() {
    if (!live() || document.hidden || busy()) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null || busy()) {
          return;
        }
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (section) {
          var update = fresh.getElementById(section.id);
          if (update) {
            section.innerHTML = update.innerHTML;
          }
        });
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("live-toggle");
    if (toggle) {
      label(toggle);
      toggle.addEventListener("click", function () {
        window.localStorage.setItem(KEY, live() ? "off" : "on");
        label(toggle);
      });
    }
    document.addEventListener("change", function (event) {
      if (event.target && event.target.id === "select-all") {
        document.querySelectorAll("input[name=id]").forEach(function (box) {
          box.checked = event.target.checked;
        });
      }
    });
    window.setInterval(refresh, EVERY_MS);
  });
})();
