// Endpoint playground: POST the request body to the endpoint's URL (HF payloads) and show the answer and latency.
// Streams (text generation and chat) are read as server-sent events and shown as they arrive.
const section = document.querySelector(".playground");
if (section) {
  const input = section.querySelector("#pg-input");
  const output = section.querySelector("#pg-output");
  const latency = section.querySelector("#pg-latency");
  const streamBox = section.querySelector("#pg-stream");
  const csrf = section.querySelector("input[name=csrfmiddlewaretoken]").value;

  section.querySelector("#pg-run").addEventListener("click", async () => {
    let body;
    try {
      body = JSON.parse(input.value);
    } catch {
      output.textContent = "The request body is not valid JSON.";
      return;
    }
    const stream = Boolean(streamBox && streamBox.checked);
    if (stream) body.stream = true;
    output.textContent = "";
    latency.textContent = "running…";
    const started = performance.now();
    let response;
    try {
      response = await fetch(section.dataset.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (error) {
      latency.textContent = "";
      output.textContent = `Request failed: ${error}`;
      return;
    }
    if (stream && response.ok && response.body) {
      await readStream(response, started);
      return;
    }
    const text = await response.text();
    const ms = performance.now() - started;
    latency.textContent = `${response.status} · ${ms.toFixed(0)} ms`;
    try {
      output.textContent = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      output.textContent = text;
    }
  });

  async function readStream(response, started) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let first = null;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const events = buffer.split("\n\n");
      buffer = events.pop();
      for (const event of events) {
        const data = event.replace(/^data: ?/, "");
        if (data === "[DONE]") continue;
        const payload = JSON.parse(data);
        if (payload.error) {
          output.textContent += `\n[error] ${payload.error.message || payload.error}`;
          continue;
        }
        if (first === null) first = performance.now() - started;
        output.textContent += payload.token ? payload.token.text : "";
      }
    }
    const ms = performance.now() - started;
    latency.textContent = `first token ${first === null ? "–" : first.toFixed(0)} ms · total ${ms.toFixed(0)} ms`;
  }
}
