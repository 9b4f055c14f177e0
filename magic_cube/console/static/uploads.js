/* Image fields of the config form (console/forms/, kind "image"): the picker is shown, a chosen
   file is posted to the console's upload endpoint (multipart, with the form's CSRF token) and the
   answered /media/… URL goes into the field's input, which becomes read-only; a thumbnail shows
   it, and "Remove image" empties the field.

   Without this script the picker stays hidden and the plain URL input works as any text input.
   Rows that forms.js adds later are set up when they appear. No framework, no build step. */
(function () {
  "use strict";

  function setUp(field) {
    if (field.hasAttribute("data-image-ready")) return;
    var picker = field.querySelector("[data-image-picker]");
    if (!picker) return; // read-only: no picker
    field.setAttribute("data-image-ready", "");
    picker.classList.add("is-on");
    var input = field.querySelector("[data-image-url]");
    if (input) input.readOnly = true;
  }

  function setUpAll(root) {
    if (root.nodeType !== 1) return;
    if (root.hasAttribute("data-image-field")) setUp(root);
    Array.prototype.forEach.call(root.querySelectorAll("[data-image-field]"), setUp);
  }

  function parts(el) {
    var field = el.closest("[data-image-field]");
    return {
      field: field,
      input: field.querySelector("[data-image-url]"),
      picker: field.querySelector("[data-image-picker]"),
      preview: field.querySelector("[data-image-preview]"),
      status: field.querySelector("[data-image-status]"),
      remove: field.querySelector("[data-image-remove]"),
      file: field.querySelector("[data-image-file]")
    };
  }

  function show(p, url) {
    var img = p.preview.querySelector("img");
    p.input.value = url;
    if (url) img.setAttribute("src", url);
    else img.removeAttribute("src");
    p.preview.hidden = !url;
    p.remove.hidden = !url;
    p.input.dispatchEvent(new Event("input", { bubbles: true }));
    p.input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function say(p, text, failed) {
    p.status.textContent = text;
    p.field.classList.toggle("field--upload-failed", !!failed);
  }

  function csrfToken(field) {
    var form = field.closest("form");
    var token = form && form.querySelector("input[name=csrf_token]");
    return token ? token.value : "";
  }

  function upload(fileInput) {
    var p = parts(fileInput);
    var file = fileInput.files && fileInput.files[0];
    if (!file) return;
    var max = parseInt(p.picker.getAttribute("data-max-bytes") || "0", 10);
    if (max && file.size > max) {
      say(p, p.picker.getAttribute("data-too-large"), true);
      fileInput.value = "";
      return;
    }
    var body = new FormData();
    var token = csrfToken(p.field);
    body.append("csrf_token", token);
    body.append("file", file, file.name);
    say(p, p.picker.getAttribute("data-uploading"), false);
    p.field.setAttribute("aria-busy", "true");
    fetch(p.picker.getAttribute("data-upload-url"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": token }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.status === 201 && data.url) {
          show(p, data.url);
          say(p, p.picker.getAttribute("data-uploaded"), false);
        } else {
          say(p, data.message || p.picker.getAttribute("data-failed"), true);
        }
      });
    }).catch(function () {
      say(p, p.picker.getAttribute("data-failed"), true);
    }).then(function () {
      p.field.removeAttribute("aria-busy");
      fileInput.value = "";
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-image-file]")) upload(target);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-image-remove]");
    if (!button) return;
    event.preventDefault();
    var p = parts(button);
    show(p, "");
    say(p, p.picker.getAttribute("data-removed"), false);
    p.file.focus();
  });

  function start() {
    setUpAll(document.body);
    if (window.MutationObserver) {
      new MutationObserver(function (changes) {
        changes.forEach(function (change) {
          Array.prototype.forEach.call(change.addedNodes, setUpAll);
        });
      }).observe(document.body, { childList: true, subtree: true });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
