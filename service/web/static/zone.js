// Preselect the browser's time zone in an empty time zone field.
(function () {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.querySelectorAll("input[data-guess-zone]").forEach(function (input) {
    if (!input.value && zone) input.value = zone;
  });
})();
