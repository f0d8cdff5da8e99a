// Show each time also in the viewer's own zone, when it differs from the event's.
(function () {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  // Written in the page's language as the page writes the event's own times
  // ("7 December 2020, 14:00 – 16:00 CET"), whatever the browser's; English as the British do.
  const language = document.documentElement.lang || "en";
  const locale = language === "en" ? "en-GB" : language;
  const label = document.currentScript.dataset.yourTime || "Your time ({zone}): {time}";
  const part = function (options) {
    return new Intl.DateTimeFormat(locale, Object.assign({ timeZone: zone }, options));
  };
  const day = part({ year: "numeric", month: "long", day: "numeric" });
  const time = part({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const zoned = part({ hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
  document.querySelectorAll("[data-start][data-end]").forEach(function (el) {
    if (el.dataset.zone === zone) return;
    const start = new Date(el.dataset.start), end = new Date(el.dataset.end);
    const text = day.format(start) === day.format(end)
      ? day.format(start) + ", " + time.format(start) + " – " + zoned.format(end)
      : day.format(start) + ", " + zoned.format(start) + " – " + day.format(end) + ", " + zoned.format(end);
    const out = document.createElement("span");
    out.className = "yours";
    out.textContent = label.replace("{zone}", zone).replace("{time}", text);
    el.appendChild(out);
  });
})();
