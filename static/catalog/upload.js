// Browser upload: each file streams to POST /api/v1/blobs (XMLHttpRequest, for upload progress events), then
// one commit names the blobs. The browser reads files from disk as it sends them; nothing is buffered whole.
const form = document.getElementById("upload-form");
const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
const list = document.getElementById("upload-list");
const tbody = list.querySelector("tbody");
const submit = document.getElementById("upload-submit");
const progress = document.getElementById("upload-progress");
const progressWrap = document.getElementById("upload-progress-wrap");
const status = document.getElementById("upload-status");
const errorBox = document.getElementById("upload-error");
const files = new Map(); // path relative to the chosen folder -> File

function formatSize(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

function targetPath(path) {
  const prefix = form.prefix.value.trim().replace(/^\/+|\/+$/g, "");
  return prefix ? `${prefix}/${path}` : path;
}

function add(path, file) {
  const parts = path.split("/");
  if (parts.includes(".git") || parts.at(-1) === ".DS_Store") return;
  files.set(path, file);
}

function render() {
  tbody.replaceChildren();
  let total = 0;
  for (const [path, file] of files) {
    total += file.size;
    const row = tbody.insertRow();
    row.dataset.path = path;
    row.insertCell().textContent = targetPath(path);
    const size = row.insertCell();
    size.className = "num";
    size.textContent = formatSize(file.size);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${path}`);
    remove.addEventListener("click", () => {
      files.delete(path);
      render();
    });
    row.insertCell().append(remove);
  }
  list.hidden = files.size === 0;
  document.getElementById("upload-total").textContent = `${files.size} file${files.size === 1 ? "" : "s"}, ${formatSize(total)}`;
  submit.disabled = files.size === 0;
  if (!form.title.value) form.title.placeholder = files.size === 1 ? `Upload ${[...files.keys()][0]}` : `Upload ${files.size} files`;
}

document.getElementById("file-input").addEventListener("change", (event) => {
  for (const file of event.target.files) add(file.name, file);
  event.target.value = "";
  render();
});

document.getElementById("folder-input").addEventListener("change", (event) => {
  // "model/config.json" -> "config.json": the chosen folder's contents go to the repo root (or the prefix).
  for (const file of event.target.files) add(file.webkitRelativePath.split("/").slice(1).join("/") || file.name, file);
  event.target.value = "";
  render();
});
form.prefix.addEventListener("input", render);

// Drag and drop of files and whole folders.
const dropzone = document.getElementById("dropzone");
dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropzone.classList.add("over");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", async (event) => {
  event.preventDefault();
  dropzone.classList.remove("over");
  const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  // One folder dropped: its contents go to the repo root (or the prefix), as with "Choose a folder".
  const top = entries.length === 1 && entries[0].isDirectory ? await children(entries[0]) : entries;
  for (const entry of top) await walk(entry, "");
  render();
});

async function children(directory) {
  const reader = directory.createReader();
  const all = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return all;
    all.push(...batch);
  }
}

async function walk(entry, prefix) {
  if (entry.isFile) {
    add(prefix + entry.name, await new Promise((resolve, reject) => entry.file(resolve, reject)));
    return;
  }
  for (const child of await children(entry)) await walk(child, `${prefix}${entry.name}/`);
}

function send(method, url, body, { json = false, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Content-Type", json ? "application/json" : "application/octet-stream");
    xhr.responseType = "json";
    if (onProgress) xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(new Error(xhr.response?.error || `The hub answered ${xhr.status}.`));
    });
    xhr.addEventListener("error", () => reject(new Error("The connection to the hub failed.")));
    xhr.send(json ? JSON.stringify(body) : body);
  });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!files.size) return;
  errorBox.hidden = true;
  submit.disabled = true;
  progressWrap.hidden = false;
  const total = [...files.values()].reduce((sum, f) => sum + f.size, 0) || 1;
  let done = 0;
  const operations = [];
  try {
    let index = 0;
    for (const [path, file] of files) {
      index += 1;
      status.textContent = `Uploading ${index} of ${files.size}: ${path}`;
      const blob = await send("POST", form.dataset.blobsUrl, file, {
        onProgress: (loaded) => {
          progress.value = Math.min(99, ((done + loaded) / total) * 100);
        },
      });
      done += file.size;
      operations.push({ op: "add", path: targetPath(path), blob: blob.sha256 });
    }
    let branch = form.branch.value;
    const newBranch = form.new_branch.value.trim();
    if (newBranch) {
      status.textContent = `Creating branch ${newBranch}…`;
      await send("POST", form.dataset.branchesUrl, { name: newBranch, revision: branch }, { json: true });
      branch = newBranch;
    }
    status.textContent = "Committing…";
    const title = form.title.value.trim() || form.title.placeholder;
    await send("POST", form.dataset.commitUrl, { branch, title, message: form.message.value, operations }, { json: true });
    progress.value = 100;
    status.textContent = "Done.";
    window.location.assign(branch === "main" ? form.dataset.repoUrl : form.dataset.treeUrl + encodeURI(branch));
  } catch (error) {
    errorBox.textContent = `Upload failed: ${error.message} Nothing was committed.`;
    errorBox.hidden = false;
    status.textContent = "";
    submit.disabled = false;
  }
});
