/* memoguard web console: progressive enhancement only. Without it, every page works on reload.
   - keeps the live part of the page (#live) up to date: an EventSource on /console/events (server-sent
     events; the browser reconnects by itself with Last-Event-ID, so nothing is missed) and, on each
     change, the same page fetched again with X-Console-Fragment: 1 (the server renders the HTML);
   - makes the countdowns to the next escalation step tick. */
(function () {
  "use strict";
  var body = document.body;
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");

  function countdown(due) {
    var seconds = Math.floor((due - Date.now()) / 1000);
    if (seconds <= 0) { return body.dataset.overdue; }
    var hours = Math.floor(seconds / 3600), minutes = Math.floor((seconds % 3600) / 60), rest = seconds % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return body.dataset.in + " " + (hours ? hours + " h " + two(minutes) + " min" : minutes + " min " + two(rest) + " s");
  }
  function tick() {
    var items = document.querySelectorAll("time.countdown[data-due]");
    for (var i = 0; i < items.length; i++) {
      var due = Date.parse(items[i].dataset.due);
      if (!isNaN(due)) { items[i].textContent = countdown(due); }
    }
  }
  setInterval(tick, 1000);

  if (!live || !window.EventSource || !window.fetch) { return; }
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin" })
      .then(function (answer) {
        if (answer.redirected || !answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.text();
      })
      .then(function (html) { live.innerHTML = html; tick(); body.dataset.refreshed = String(Date.now()); })
      .catch(function () { status.textContent = body.dataset.offline; })
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var source = new EventSource("/console/events?after=" + encodeURIComponent(live.dataset.cursor || "0"));
  source.addEventListener("open", function () { status.textContent = body.dataset.live; body.dataset.stream = "open"; });
  source.addEventListener("error", function () { status.textContent = body.dataset.offline; body.dataset.stream = "closed"; });
  source.addEventListener("timeline", function (message) {
    var entry = JSON.parse(message.data);
    if (live.dataset.incident && entry.incident !== live.dataset.incident) { return; }
    refresh();
  });
})();
