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
// which then lists what the run did. Without script, the section's Refresh link does it.
function followRuns() {
  if (!window.EventSource) return;
  document.querySelectorAll("[data-events]:not([data-following])").forEach(function (section) {
    section.setAttribute("data-following", "");
    var source = new EventSource(section.getAttribute("data-events"));
    var show = function (event) {
      var current = document.getElementById(section.id);
      var holder = document.createElement("div");
      holder.innerHTML = event.data;
      var fresh = holder.firstElementChild;
      if (!fresh || !current) return;
      fresh.setAttribute("data-following", "");
      current.replaceWith(fresh);
    };
    source.addEventListener("status", show);
    source.addEventListener("end", function (event) {
      source.close();
      show(event);
      window.location.reload();
    });
  });
}
document.addEventListener("DOMContentLoaded", followRuns);
document.addEventListener("htmx:afterSettle", followRuns);
