"""HF inference payloads ({"inputs": …, "parameters": …}) at the URLs huggingface_hub's InferenceClient posts to:

- an endpoint's URL, POST /endpoints/<owner>/<name> (InferenceClient(model=<endpoint url>)): the endpoint's task;
- a model's URL, POST /models/<owner>/<name> and /models/<owner>/<name>/pipeline/<task> (the serverless API's
  shape; InferenceClient(model=<hub>/models/<owner>/<name>)): the best endpoint serving that model;
- chat_completion appends /v1/chat/completions to either URL: answered by the OpenAI views (hub.endpoints.openai).
text_generation with stream=True answers TGI's SSE format. Errors: {"error": message, "error_type": …} with 400 for
a malformed body, 422 for invalid inputs (as TGI), 404 for a model the caller may not see, 429, 503, 504.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from hub.core.errors import HubError, Invalid
from hub.core.ratelimit import RateLimited
from hub.endpoints import dispatch, selectors
from hub.endpoints.models import Endpoint, Task
from hub.endpoints.protocol import Malformed, check_csrf, json_body, peek, sse, stream_error

ERROR_TYPES = {429: "overloaded", 503: "overloaded", 504: "overloaded", 500: "generation", 404: "not_found"}
PIPELINE_TASKS = {
    "feature-extraction": "feature-extraction",
    "sentence-similarity": "feature-extraction",
    "sentence-embeddings": "feature-extraction",
    "text-classification": "text-classification",
    "sentiment-analysis": "text-classification",
    "fill-mask": "fill-mask",
    "token-classification": "token-classification",
    "ner": "token-classification",
    "text-generation": "text-generation",
}
MAX_INPUTS = 1024


def error_response(exc: HubError) -> JsonResponse:
    status = exc.status
    if isinstance(exc, Invalid) and not isinstance(exc, Malformed):
        status = 422  # well-formed JSON with invalid inputs: TGI's validation status
    error_type = "validation" if status in (400, 422) else ERROR_TYPES.get(status, exc.code)
    response = JsonResponse({"error": exc.message, "error_type": error_type}, status=status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


def hf_view(func):
    @csrf_exempt
    def view(request: HttpRequest, *args, **kwargs):
        try:
            check_csrf(request)
            return func(request, *args, **kwargs)
        except HubError as exc:
            return error_response(exc)

    view.__name__ = func.__name__
    return view


@hf_view
def endpoint_inference(request: HttpRequest, owner: str, name: str):
    """POST to an endpoint's URL (GET shows its page: hub.endpoints.views.detail)."""
    endpoint = selectors.get_endpoint(request.user, owner, name)
    return infer(request, endpoint, endpoint.task)


@hf_view
def model_inference(request: HttpRequest, owner: str, name: str, pipeline: str | None = None):
    if request.method != "POST":
        raise Invalid('Send a POST with {"inputs": …, "parameters": …}.', code="method_not_allowed")
    task = None
    if pipeline is not None:
        task = PIPELINE_TASKS.get(pipeline)
        if task is None:
            raise Invalid(f"Unsupported pipeline '{pipeline}'.", code="invalid_task")
    kind = task or "any"
    endpoint = selectors.endpoint_for_model(request.user, f"{owner}/{name}", kind)
    return infer(request, endpoint, task or endpoint.task)


def infer(request: HttpRequest, endpoint: Endpoint, task: str):
    body = json_body(request)
    if "inputs" not in body:
        raise Invalid("'inputs' is required.", code="missing_inputs")
    inputs = body["inputs"]
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Invalid("'parameters' must be an object.", code="invalid_parameters")
    if task == Task.FEATURE_EXTRACTION:
        # The client sends feature-extraction options at the top level (normalize, truncate, prompt_name, …).
        parameters = {**{k: v for k, v in body.items() if k not in ("inputs", "parameters", "stream")}, **parameters}
    caller = dispatch.Caller.of(request, f"hf.{task}")
    if task in (Task.TEXT_GENERATION, Task.CHAT):
        return _generate(request, endpoint, caller, inputs, parameters, stream=bool(body.get("stream")))
    texts, single = _texts(inputs)
    dispatch.admit(caller)
    reply = dispatch.run(endpoint, caller=caller, task=task, inputs=texts, parameters=parameters)
    outputs = reply.outputs
    # One string in: fill-mask and token-classification answer a flat list, as the HF API does.
    if single and task in (Task.FILL_MASK, Task.TOKEN_CLASSIFICATION) and isinstance(outputs, list) and outputs:
        outputs = outputs[0]
    return _json(outputs, reply)


def _json(outputs: object, reply: dispatch.Reply) -> JsonResponse:
    response = JsonResponse(outputs, safe=False)
    response["X-Compute-Time"] = f"{(reply.usage.get('compute_ms') or 0) / 1000:.4f}"
    response["X-Compute-Type"] = "cpu"
    response["X-Inference-Time"] = f"{reply.latency_ms:.1f}"
    return response


def _texts(inputs: object) -> tuple[list[str], bool]:
    if isinstance(inputs, str):
        if not inputs:
            raise Invalid("'inputs' may not be empty.", code="invalid_inputs")
        return [inputs], True
    if isinstance(inputs, list) and inputs and all(isinstance(t, str) and t for t in inputs):
        if len(inputs) > MAX_INPUTS:
            raise Invalid(f"At most {MAX_INPUTS} inputs per request.", code="invalid_inputs")
        return inputs, False
    raise Invalid("'inputs' must be a non-empty string or a list of non-empty strings.", code="invalid_inputs")


GENERATION_PARAMETERS = {
    "max_new_tokens": int, "temperature": (int, float), "top_p": (int, float), "top_k": int, "seed": int,
    "do_sample": bool, "return_full_text": bool, "repetition_penalty": (int, float), "stop": list,
}  # fmt: skip
IGNORED_TGI = {"details", "decoder_input_details", "best_of", "watermark", "truncate", "typical_p", "top_n_tokens",
               "adapter_id", "grammar", "frequency_penalty", "stop_sequences"}  # fmt: skip


def _generation_parameters(parameters: dict) -> dict:
    out = {}
    for key, value in parameters.items():
        if key in IGNORED_TGI or value is None:
            continue
        kind = GENERATION_PARAMETERS.get(key)
        if kind is None:
            raise Invalid(f"Unknown parameter '{key}'.", code="invalid_parameters")
        if isinstance(value, bool) and kind is not bool:
            raise Invalid(f"Parameter '{key}' has the wrong type.", code="invalid_parameters")
        if not isinstance(value, kind):
            raise Invalid(f"Parameter '{key}' has the wrong type.", code="invalid_parameters")
        out[key] = value
    if "stop_sequences" in parameters and parameters["stop_sequences"]:
        out["stop"] = list(parameters["stop_sequences"])
    if not 1 <= out.get("max_new_tokens", 20) <= 4096:
        raise Invalid("max_new_tokens must be between 1 and 4096.", code="invalid_parameters")
    if out.get("stop") is not None and not all(isinstance(s, str) and s for s in out["stop"]):
        raise Invalid("stop must be a list of strings.", code="invalid_parameters")
    out.setdefault("return_full_text", False)  # TGI's default: only the new text
    return out


def _generate(request, endpoint: Endpoint, caller, inputs: object, parameters: dict, *, stream: bool):
    params = _generation_parameters(parameters)
    if isinstance(inputs, list) and endpoint.task == Task.CHAT:
        from hub.endpoints.openai import _messages

        task, inputs = "chat", _messages({"messages": inputs})
    elif isinstance(inputs, str) and inputs:
        task = "text-generation"
    else:
        raise Invalid("'inputs' must be a non-empty prompt string.", code="invalid_inputs")
    dispatch.admit(caller)
    if stream:
        events = dispatch.stream(endpoint, caller=caller, task=task, inputs=inputs, parameters=params)
        return sse(_tgi_chunks(peek(events, stream_error), params))
    reply = dispatch.run(endpoint, caller=caller, task=task, inputs=inputs, parameters=params)
    if task == "chat":
        outputs = reply.outputs if isinstance(reply.outputs, dict) else {}
        text = (outputs.get("message") or {}).get("content", "")
        return _json([{"generated_text": text}], reply)
    outputs = reply.outputs if isinstance(reply.outputs, list) else [reply.outputs]
    output_tokens = int(reply.usage.get("output_tokens") or 0)
    finish = "length" if output_tokens >= params.get("max_new_tokens", 20) else "eos_token"
    details = {"finish_reason": finish, "generated_tokens": output_tokens, "seed": params.get("seed"),
               "prefill": [], "tokens": []}  # fmt: skip
    result = [{**o, "details": details} if isinstance(o, dict) else {"generated_text": str(o)} for o in outputs]
    return _json(result, reply)


def _tgi_chunks(events: Iterator[dict], params: dict) -> Iterator[dict | str]:
    """TGI stream: one event per token; the last token carries generated_text and details. Tokens are held back by
    one so that the last one can carry them."""
    held: dict | None = None
    text: list[str] = []
    index = 0
    for event in events:
        if event["type"] == "token":
            if held is not None:
                yield held
            index += 1
            text.append(event.get("text", ""))
            held = {"index": index, "token": {"id": 0, "text": event.get("text", ""), "logprob": 0.0, "special": False},
                    "generated_text": None, "details": None, "top_tokens": None}  # fmt: skip
        elif event["type"] == "done":
            usage = event.get("usage") or {}
            finish = "length" if event.get("finish_reason") == "length" else "eos_token"
            last = held or {"index": index + 1, "token": {"id": 0, "text": "", "logprob": 0.0, "special": True},
                            "top_tokens": None}  # fmt: skip
            last["generated_text"] = "".join(text)
            last["details"] = {"finish_reason": finish, "generated_tokens": int(usage.get("output_tokens") or index),
                               "seed": params.get("seed")}  # fmt: skip
            yield last
            return
        elif event["type"] == "error":
            if held is not None:
                yield held
            # TGI's error types: "overloaded" (retry) for a lost worker, as its 503 answer says without a stream.
            error_type = "overloaded" if event.get("code") == "worker_lost" else "generation"
            yield {"error": event.get("message", "Inference failed."), "error_type": error_type}
            return
