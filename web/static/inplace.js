// Forms (or submit buttons) marked data-inplace are sent in the background: the page stays where it is, the
// row shows what was done, and the draft's version is updated for the next edit. Without
// JavaScript the same forms post and reload the page.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  const button = event.submitter;
  if (!form.matches("form[data-inplace]") && !(button && button.hasAttribute("data-inplace"))) return;
  event.preventDefault();
  const data = new FormData(form);
  if (button && button.name) data.set(button.name, button.value);
  const row = (button && button.closest("tr")) || form.closest("tr");
  const status = row ? row.querySelector(".inplace-status") : null;
  form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    // getAttribute: form.action would be the form's own field named "action".
    const response = await fetch(form.getAttribute("action") || location.href, {
      method: "POST", body: data, headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin",
    });
    const answer = await response.json();
    const problems = (answer.problems || []).map((p) => p.message + (p.fix ? " (" + p.fix + ")" : ""));
    if (status) status.textContent = answer.message || [answer.error, ...problems].join(" ");
    if (response.ok) {
      if (row) row.classList.add("edited");
      if (answer.version !== undefined) {
        document.querySelectorAll("input[name=version]").forEach((v) => { v.value = answer.version; });
      }
      const count = document.querySelector("[data-edit-count]");
      if (count && answer.edits !== undefined) count.textContent = answer.edits;
    } else if (row) {
      row.classList.add("failed");
    }
  } catch (error) {
    if (status) status.textContent = document.body.dataset.notSent.replace("{error}", error);
  } finally {
    form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
});
