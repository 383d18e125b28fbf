// Small progressive enhancements; every page works without this file.
document.addEventListener("change", (e) => {
  if (e.target.matches("select[data-autosubmit]")) e.target.form.submit();
});
document.addEventListener("submit", (e) => {
  const message = e.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) e.preventDefault();
});
// data-copy copies the element's own text; data-copy="id" (a copy button) copies the
// text of the element with that id.
document.addEventListener("click", (e) => {
  const el = e.target.closest("[data-copy]");
  if (!el || !navigator.clipboard) return;
  const target = el.getAttribute("data-copy");
  const source = target ? document.getElementById(target) : el;
  if (source) navigator.clipboard.writeText(source.textContent.trim());
});
