// Select all of a feed address (or an embed's code) when its box gets focus, so that one copy takes all of it.
// (A script file rather than an onfocus attribute: the pages' CSP allows no inline script.)
document.addEventListener("focusin", function (event) {
  const box = event.target;
  const text = box instanceof HTMLInputElement || box instanceof HTMLTextAreaElement;
  if (text && box.hasAttribute("data-select-on-focus")) box.select();
});
