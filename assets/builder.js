// Live template preview: re-renders the sandboxed preview while the form is edited.
// Optional: without it, the "Preview" button does the same with a page load.
(() => {
  const form = document.querySelector("form[data-live-preview]");
  const frame = document.querySelector("iframe[data-preview]");
  if (!form || !frame || !window.fetch) return;
  const subject = document.querySelector("[data-preview-subject]");
  const text = document.querySelector("[data-preview-text]");
  const problem = document.querySelector("[data-preview-error]");
  let timer;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try {
        const body = new URLSearchParams(new FormData(form));
        const r = await fetch(form.dataset.livePreview, { method: "POST", body, credentials: "same-origin" });
        if (!r.ok) return;
        const p = await r.json();
        if (problem) { problem.hidden = !p.error; problem.textContent = p.error || ""; }
        if (p.error) return;
        frame.srcdoc = p.html;
        if (subject) subject.textContent = p.subject;
        if (text) text.textContent = p.text;
      } catch (_) { /* the Preview button still works */ }
    }, 400);
  });
})();
