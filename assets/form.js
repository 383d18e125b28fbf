// Herald embed script: optional. Every form[data-herald-form] works without it (a plain
// POST). With it, the form gets its timing token from Herald when the page loads and is
// sent with fetch, so the answer (thanks, or what to fix) shows in place. If Herald cannot
// be reached the form is sent the plain way.
(function () {
  "use strict";

  function message(form, text, ok) {
    var box = form.querySelector("[data-herald-message]");
    if (!box) {
      box = document.createElement("p");
      box.setAttribute("data-herald-message", "");
      box.setAttribute("role", "status");
      form.appendChild(box);
    }
    box.textContent = text;
    box.setAttribute("data-state", ok ? "ok" : "error");
  }

  function hidden(form, name, value) {
    var input = form.querySelector('input[name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    input.value = value;
  }

  function values(form) {
    var out = {};
    var data = new FormData(form);
    data.forEach(function (value, key) {
      if (key === "listIds") {
        (out.listIds = out.listIds || []).push(value);
      } else {
        out[key] = value;
      }
    });
    return out;
  }

  function plain(form) {
    form.removeAttribute("data-herald-busy");
    HTMLFormElement.prototype.submit.call(form);
  }

  function send(form, event) {
    event.preventDefault();
    if (form.hasAttribute("data-herald-busy")) return;
    form.setAttribute("data-herald-busy", "");
    var button = form.querySelector("button[type=submit], button:not([type])");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(values(form)),
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (body) {
        form.removeAttribute("data-herald-busy");
        if (button) button.disabled = false;
        if (response.ok && body.success) {
          if (body.redirectUrl) { window.location.href = body.redirectUrl; return; }
          var text = body.message + (body.requiresConfirmation ? " Please check your inbox to confirm." : "");
          Array.prototype.forEach.call(form.elements, function (el) { el.disabled = true; });
          message(form, text, true);
          form.setAttribute("data-herald-done", "");
        } else {
          message(form, body.message || "Something went wrong; please try again.", false);
        }
      });
    }).catch(function () {
      plain(form);
    });
  }

  function enhance(form) {
    var token = form.action.replace(/\/+$/, "") + "/token";
    fetch(token, { credentials: "omit", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body && body.token) hidden(form, "_t", body.token); })
      .catch(function () {});
    form.addEventListener("submit", function (event) { send(form, event); });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-herald-form]"), enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
