// Select all of a feed address when its box gets focus, so that one copy takes all of it.
// (A script file rather than an onfocus attribute: the pages' CSP allows no inline script.)
document.addEventListener("focusin", function (event) {
  const box = event.target;
  if (box instanceof HTMLInputElement && box.hasAttribute("data-select-on-focus")) box.select();
});
