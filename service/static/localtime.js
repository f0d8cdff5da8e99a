// Show each time also in the viewer's own zone, when it differs from the event's.
(function () {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  // Written as the page writes the event's own times ("7 December 2020, 14:00"), whatever
  // the browser's language. dateStyle/timeStyle exclude timeZoneName, so name each part.
  const format = new Intl.DateTimeFormat("en-GB", {
    year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23", timeZone: zone, timeZoneName: "short",
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
