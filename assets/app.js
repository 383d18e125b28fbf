// Small progressive enhancements; every page works without this file.
document.addEventListener("change", (e) => {
  if (e.target.matches("select[data-autosubmit]")) e.target.form.submit();
});
document.addEventListener("submit", (e) => {
  const message = e.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) e.preventDefault();
});
document.addEventListener("click", (e) => {
  const el = e.target.closest("[data-copy]");
  if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent.trim());
});
