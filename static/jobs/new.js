// The Fine-tune form: dataset search as you type, the chosen dataset's splits and columns (when the dataset
// viewer answers), fields shown for the chosen task and method, and submission as JSON to /api/v1/jobs.
// Read the form's data-* with getAttribute: form.dataset is its input named "dataset".
const form = document.getElementById("job-form");
const $ = (id) => document.getElementById(id);
const datasetInput = $("f-dataset");
const results = $("dataset-results");
const info = $("dataset-info");
const output = $("f-output");
let outputEdited = false;
let searchTimer = null;
let searchSeq = 0;

// ------------------------------------------------------------------------------------------ task and method

function showFor() {
  const task = $("f-task").value, method = $("f-method").value;
  for (const block of form.querySelectorAll(".columns[data-task]")) block.hidden = block.dataset.task !== task;
  $("lora-fields").hidden = method !== "lora";
}
$("f-task").addEventListener("change", showFor);
$("f-method").addEventListener("change", showFor);
showFor();

// ----------------------------------------------------------------------------------------------- output name

const shortName = (full) => (full || "").split("/").pop().trim();
function suggestOutput() {
  if (outputEdited) return;
  const base = shortName($("f-base").value) || form.getAttribute("data-base-short") || "model";
  const dataset = shortName(datasetInput.value);
  output.value = dataset ? `${base}-${dataset}` : `${base}-finetuned`;
}
output.addEventListener("input", () => { outputEdited = true; });
$("f-base").addEventListener("change", suggestOutput);

// -------------------------------------------------------------------------------------------- dataset search

function closeResults() {
  results.hidden = true;
  datasetInput.setAttribute("aria-expanded", "false");
  datasetInput.removeAttribute("aria-activedescendant");
}

async function search() {
  const q = datasetInput.value.trim();
  const seq = ++searchSeq;
  try {
    const response = await fetch(`/api/v1/datasets?q=${encodeURIComponent(q)}&limit=8&sort=likes`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!response.ok || seq !== searchSeq) return;
    const body = await response.json();
    const items = body.results || body.items || (Array.isArray(body) ? body : []);
    results.replaceChildren();
    items.forEach((repo, i) => {
      const option = document.createElement("li");
      option.id = `dataset-option-${i}`;
      option.setAttribute("role", "option");
      option.dataset.value = repo.id;
      option.textContent = repo.id;
      if (repo.private) option.append(Object.assign(document.createElement("span"), { className: "badge", textContent: "private" }));
      results.append(option);
    });
    if (!items.length) {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = q ? `No dataset matches “${q}”.` : "You can read no datasets yet.";
      results.append(none);
    }
    results.hidden = false;
    datasetInput.setAttribute("aria-expanded", "true");
  } catch {
    closeResults(); // search is a convenience; typing owner/name still works
  }
}

function choose(value) {
  datasetInput.value = value;
  closeResults();
  suggestOutput();
  describeDataset();
}

datasetInput.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, 200);
  suggestOutput();
});
datasetInput.addEventListener("focus", () => { if (!datasetInput.value) search(); });
datasetInput.addEventListener("change", () => describeDataset());
datasetInput.addEventListener("keydown", (event) => {
  const options = [...results.querySelectorAll("[role=option]")];
  if (results.hidden || !options.length) return;
  const current = options.findIndex((o) => o.getAttribute("aria-selected") === "true");
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    const next = (current + (event.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
    options.forEach((o, i) => o.setAttribute("aria-selected", String(i === next)));
    datasetInput.setAttribute("aria-activedescendant", options[next].id);
  } else if (event.key === "Enter" && current >= 0) {
    event.preventDefault();
    choose(options[current].dataset.value);
  } else if (event.key === "Escape") {
    closeResults();
  }
});
results.addEventListener("mousedown", (event) => {
  const option = event.target.closest("[role=option]");
  if (option) { event.preventDefault(); choose(option.dataset.value); }
});
datasetInput.addEventListener("blur", () => setTimeout(closeResults, 150));

// -------------------------------------------------------------------- the chosen dataset's splits and columns

function fillList(id, values) {
  $(id).replaceChildren(...values.map((v) => Object.assign(document.createElement("option"), { value: v })));
}

async function describeDataset() {
  const name = datasetInput.value.trim();
  info.textContent = "";
  if (!/^[^/\s]+\/[^/\s]+$/.test(name)) return;
  const revision = $("f-dataset-revision").value.trim() || "main";
  try {
    const response = await fetch(`/api/v1/datasets/${name}/viewer?revision=${encodeURIComponent(revision)}`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 404 && body.code !== "repo_not_found" && body.code !== "revision_not_found") {
      info.textContent = "Type the split and column names of your data below.";
      return;
    }
    if (!response.ok) { info.textContent = body.error || "Could not read this dataset; check the name."; return; }
    const splits = Object.keys(body.splits || {});
    const splitInfo = body.split_info || {};
    const columns = [...new Set(Object.values(splitInfo).flatMap((s) => Object.keys(s.columns || {})))];
    fillList("split-options", splits);
    fillList("column-options", columns);
    const described = splits.map((s) => `${s}${splitInfo[s]?.rows != null ? ` (${splitInfo[s].rows} rows)` : ""}`);
    info.textContent = splits.length
      ? `Splits: ${described.join(", ")}. Columns: ${columns.join(", ") || "unknown"}.`
      : "This dataset has no data files the hub can read.";
    if (splits.length && !splits.includes($("f-train-split").value)) $("f-train-split").value = splits[0];
    const validation = splits.find((s) => ["validation", "valid", "dev", "test", "eval"].includes(s));
    if (validation && !$("f-validation-split").value) $("f-validation-split").value = validation;
  } catch {
    info.textContent = "Type the split and column names of your data below.";
  }
}
if (datasetInput.value) describeDataset();

// ----------------------------------------------------------------------------------------------------- submit

function body() {
  const method = $("f-method").value, task = $("f-task").value;
  const hyperparameters = {};
  for (const input of form.querySelectorAll("[data-hp]")) {
    const name = input.dataset.hp;
    if (name.startsWith("lora_") && method !== "lora") continue;
    const raw = input.value.trim();
    if (raw === "") continue;
    if (input.dataset.kind === "list") hyperparameters[name] = raw.split(/[\s,]+/).filter(Boolean);
    else hyperparameters[name] = input.dataset.kind === "int" && /^-?\d+$/.test(raw) ? parseInt(raw, 10) : Number(raw);
    if (Number.isNaN(hyperparameters[name])) hyperparameters[name] = raw; // the API says what is wrong
  }
  const columns = {};
  for (const input of form.querySelectorAll(`.columns[data-task="${task}"] [data-column]`)) {
    if (input.value.trim()) columns[input.dataset.column] = input.value.trim();
  }
  const validation = $("f-validation-split").value.trim();
  return {
    kind: "finetune",
    base_model: $("f-base").value.trim(),
    base_revision: $("f-base-revision").value.trim() || "main",
    dataset: datasetInput.value.trim(),
    dataset_revision: $("f-dataset-revision").value.trim() || "main",
    train_split: $("f-train-split").value.trim() || "train",
    validation_split: validation || null,
    validation_fraction: Number($("f-validation-fraction").value || 0.1),
    task,
    method,
    merge_adapter: method === "lora" && $("f-merge").checked,
    hyperparameters,
    columns,
    hardware: $("f-hardware").value,
    output: `${$("f-owner").value}/${output.value.trim()}`,
    private: $("f-private").checked,
  };
}

function showError(message) {
  const error = $("form-error");
  error.textContent = message;
  error.hidden = false;
  error.scrollIntoView({ block: "center" });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  $("form-error").hidden = true;
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  const invalid = [...form.querySelectorAll("input")].filter((i) => !i.closest("[hidden]") && !i.checkValidity());
  if (invalid.length) {
    invalid.forEach((i) => i.setAttribute("aria-invalid", "true"));
    const label = form.querySelector(`label[for="${invalid[0].id}"]`);
    showError(`${label ? label.textContent.trim() : invalid[0].name}: ${invalid[0].validationMessage}`);
    invalid[0].focus();
    return;
  }
  const submit = $("submit-job");
  submit.disabled = true;
  submit.textContent = "Starting…";
  try {
    const response = await fetch("/api/v1/jobs", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": form.getAttribute("data-csrf"),
      },
      body: JSON.stringify(body()),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `The hub answered ${response.status}.`);
    location.assign(answer.urls?.page || `/jobs/${answer.id}`);
  } catch (exc) {
    showError(exc.message);
    submit.disabled = false;
    submit.textContent = "Start fine-tuning";
  }
});
