// Small progressive enhancements; every page works without them.
document.documentElement.classList.add("js");

// A <select data-autosubmit> submits its form on change (a "Go" button stays for no-JS users).
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.requestSubmit();
});

// Copy buttons: data-copy="text" or data-copy-target="element id".
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy], [data-copy-target]");
  if (!button) return;
  const target = button.dataset.copyTarget && document.getElementById(button.dataset.copyTarget);
  const text = target ? target.textContent : button.dataset.copy;
  try {
    await navigator.clipboard.writeText(text);
    flash(button, "Copied");
  } catch {
    flash(button, "Select and copy");
  }
});

function flash(button, label) {
  const previous = button.getAttribute("aria-label");
  const previousText = button.textContent;
  if (button.dataset.copyTarget) button.textContent = label;
  button.setAttribute("aria-label", label);
  setTimeout(() => {
    if (button.dataset.copyTarget) button.textContent = previousText;
    if (previous) button.setAttribute("aria-label", previous);
    else button.removeAttribute("aria-label");
  }, 1500);
}

// Tabs (WAI-ARIA pattern): click or arrow keys move between tabs; one panel shown at a time.
for (const list of document.querySelectorAll("[role=tablist]")) {
  const tabs = [...list.querySelectorAll("[role=tab]")];
  const select = (tab) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute("aria-selected", String(selected));
      t.tabIndex = selected ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !selected;
    }
    tab.focus();
  };
  list.addEventListener("click", (event) => {
    const tab = event.target.closest("[role=tab]");
    if (tab) select(tab);
  });
  list.addEventListener("keydown", (event) => {
    const index = tabs.indexOf(document.activeElement);
    if (index < 0) return;
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: tabs.length - 1 - index };
    if (!(event.key in moves)) return;
    event.preventDefault();
    select(tabs[(index + moves[event.key] + tabs.length) % tabs.length]);
  });
}

// Escape closes an open dropdown (<details class="dropdown">) and returns focus to its summary.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const details of document.querySelectorAll("details.dropdown[open]")) {
    details.open = false;
    details.querySelector("summary").focus();
  }
});
