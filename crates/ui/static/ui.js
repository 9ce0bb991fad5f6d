// The console's own script (served from the binary, allowed by the CSP as 'self'):
// Copy buttons. A button with data-copy="ID" copies the value of the element with that id
// and says so in its own text for two seconds (also read out: the button is in a live
// region's reach through aria-live on itself).
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  var done = function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.value).then(done);
  } else {
    source.select();
    document.execCommand("copy");
    done();
  }
});

// Toasts: the dismiss button hides one; otherwise it goes by itself after ten seconds,
// but not while the pointer or the keyboard focus is on it (WCAG 2.2.1: time to read).
document.addEventListener("click", function (event) {
  var button = event.target.closest(".toast [data-dismiss]");
  if (button) button.closest(".toast").hidden = true;
});
function scheduleToasts() {
  document.querySelectorAll(".toast:not([data-timed])").forEach(function (toast) {
    toast.setAttribute("data-timed", "");
    var announcer = document.getElementById("announcer");
    if (announcer) {
      var text = toast.querySelector("p").textContent;
      // A moment after the page settles, so the change is heard as one.
      setTimeout(function () { announcer.textContent = text; }, 150);
    }
    var hide = function () {
      if (toast.matches(":hover") || toast.contains(document.activeElement)) {
        setTimeout(hide, 2000);
      } else {
        toast.hidden = true;
      }
    };
    setTimeout(hide, 10000);
  });
}
document.addEventListener("DOMContentLoaded", scheduleToasts);
document.addEventListener("htmx:afterSettle", scheduleToasts);

// A running run's status follows the server (server-sent events): each event is the
// status section as HTML, which replaces the one shown; the last ("end") reloads the page,
// which then lists what the run did. One stream at a time: a page that no longer shows
// the run (htmx swapped the body, Back) closes it. Without script, a Refresh link.
var following = null; // { url, run, source }
function stopFollowing() {
  if (following) following.source.close();
  following = null;
}
function shownRun(run) {
  return document.querySelector('#run-status[data-run="' + run + '"]');
}
function followRuns() {
  var section = document.querySelector("#run-status[data-events]");
  var url = section && section.getAttribute("data-events");
  if (following && following.url === url) return;
  stopFollowing();
  if (!section || !window.EventSource) return;
  var run = section.getAttribute("data-run");
  var source = new EventSource(url);
  following = { url: url, run: run, source: source };
  var show = function (event) {
    var current = shownRun(run);
    var holder = document.createElement("div");
    holder.innerHTML = event.data;
    var fresh = holder.firstElementChild;
    if (!current || !fresh) return false;
    current.replaceWith(fresh);
    return true;
  };
  source.addEventListener("status", function (event) {
    if (!show(event)) stopFollowing();
  });
  source.addEventListener("end", function (event) {
    stopFollowing();
    if (show(event)) window.location.reload();
  });
  // The server's own "error" event (the run cannot be read): stop; a dropped
  // connection (no data) is retried by the browser.
  source.addEventListener("error", function (event) {
    if (event.data) stopFollowing();
  });
}
document.addEventListener("DOMContentLoaded", followRuns);
document.addEventListener("htmx:afterSettle", followRuns);
document.addEventListener("htmx:historyRestore", followRuns);
