// Live lists: re-fetch the list (or the room) as an HTML fragment every few seconds and swap it
// in, only while the tab is visible. Without this script a reload shows the same current state.
(function () {
  "use strict";
  var region = document.querySelector("[data-live-url]");
  if (!region || !window.fetch) return;
  var url = region.getAttribute("data-live-url");
  var every = Math.max(2, parseInt(region.getAttribute("data-live-every"), 10) || 5) * 1000;
  var timer = null;
  var busy = false;

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(refresh, every);
  }

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        // Signed out, or the activity is gone: leave the page as it is.
        if (!response.ok || response.redirected) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        // Keep the keyboard where it was when the list is swapped.
        var focused = document.activeElement && region.contains(document.activeElement)
          ? document.activeElement.getAttribute("href") : null;
        region.innerHTML = html;
        if (focused) {
          var again = region.querySelector('a[href="' + focused.replace(/"/g, "") + '"]');
          if (again) again.focus();
        }
      })
      .catch(function () { /* try again at the next tick */ })
      .then(function () { busy = false; schedule(); });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) clearTimeout(timer);
    else refresh();
  });
  schedule();
})();
