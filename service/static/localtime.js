// Show each time also in the viewer's own zone, when it differs from the event's.
(function () {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  // dateStyle/timeStyle cannot be combined with timeZoneName, so name each part.
  const format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZone: zone, timeZoneName: "short",
  });
  document.querySelectorAll("[data-start][data-end]").forEach(function (el) {
    if (el.dataset.zone === zone) return;
    const start = new Date(el.dataset.start), end = new Date(el.dataset.end);
    const out = document.createElement("span");
    out.className = "yours";
    out.textContent = "Your time (" + zone + "): " + format.formatRange(start, end);
    el.appendChild(out);
  });
})();
