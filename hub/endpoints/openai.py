"""OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.

`model` is an endpoint name (owner/name) or a model repo id served by an endpoint (selectors.endpoint_for_model).
The same views answer under an endpoint's own URL (/endpoints/<owner>/<name>/v1/…), where `model` is ignored —
that is where huggingface_hub's InferenceClient(model=<endpoint url>).chat_completion() posts.
Errors use OpenAI's format: {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Iterator

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from hub.core.errors import HubError, Invalid, NotFound
from hub.core.ratelimit import RateLimited
from hub.endpoints import dispatch, selectors
from hub.endpoints.models import Endpoint, State
from hub.endpoints.protocol import check_csrf, json_body, peek, sse, stream_error

INVALID = "invalid_request_error"
TYPES = {400: INVALID, 401: "authentication_error", 403: "permission_error", 404: INVALID, 409: INVALID, 422: INVALID}
TYPES[429] = "rate_limit_error"
MAX_TOKENS_LIMIT = 4096


def error_response(exc: HubError, param: str | None = None) -> JsonResponse:
    status = exc.status
    code = exc.code
    if status == 429:
        code = "rate_limit_exceeded"
    elif status == 404 and code in ("model_not_found", "endpoint_not_found", "repo_not_found"):
        code = "model_not_found"
    body = {
        "error": {
            "message": exc.message,
            "type": TYPES.get(status, "server_error"),
            "param": exc.extra.get("param", param),
            "code": code,
        }
    }
    response = JsonResponse(body, status=status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


def openai_view(func):
    """Protocol edge: HubErrors become OpenAI errors; CSRF applies to browser sessions only."""

    @csrf_exempt
    def view(request: HttpRequest, *args, **kwargs):
        try:
            check_csrf(request)
            return func(request, *args, **kwargs)
        except HubError as exc:
            return error_response(exc)

    view.__name__ = func.__name__
    view.__doc__ = func.__doc__
    return view


def _bad(message: str, param: str) -> Invalid:
    return Invalid(message, code="invalid_value", param=param)


def _resolve(request: HttpRequest, body: dict, kind: str, owner: str | None, name: str | None) -> Endpoint:
    if owner is not None:
        endpoint = selectors.get_endpoint(request.user, owner, name)
        if endpoint.task not in selectors.COMPATIBLE[kind]:
            raise NotFound(f"Endpoint {endpoint.full_name} serves {endpoint.task}, not {kind}.", code="model_not_found")
        return endpoint
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise Invalid("'model' is required: an endpoint name or a model repo id.", code="missing_model", param="model")
    return selectors.endpoint_for_model(request.user, model, kind)


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(f"'{name}' must be a number between {low} and {high}.", name)
    return float(value)


def generation_parameters(body: dict, *, default_max_tokens: int | None) -> dict:
    """OpenAI sampling fields → the worker's parameters (HF names)."""
    params: dict = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
            raise _bad(f"'max_tokens' must be an integer between 1 and {MAX_TOKENS_LIMIT}.", "max_tokens")
        params["max_new_tokens"] = max_tokens
    elif default_max_tokens:
        params["max_new_tokens"] = default_max_tokens
    temperature = _number(body, "temperature", 0, 2)
    if temperature is not None:
        params["temperature"] = temperature
        params["do_sample"] = temperature > 0
    top_p = _number(body, "top_p", 0, 1)
    if top_p is not None:
        params["top_p"] = top_p
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise _bad("'seed' must be an integer.", "seed")
        params["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
            raise _bad("'stop' must be a string or a list of up to 4 strings.", "stop")
        params["stop"] = stops
    n = body.get("n")
    if n not in (None, 1):
        raise _bad("Only n=1 is supported.", "n")
    return params


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list of {role, content} objects.", "messages")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "tool"):
            raise _bad(f"messages[{i}] must have a role of system, user, assistant or tool.", f"messages[{i}].role")
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            if len(parts) != len(content) or not all(isinstance(p, str) for p in parts):
                raise _bad(f"messages[{i}].content may only hold text parts.", f"messages[{i}].content")
            content = "".join(parts)
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise _bad(f"messages[{i}].content must be a string.", f"messages[{i}].content")
        out.append({"role": message["role"], "content": content})
    return out


def _usage(usage: dict) -> dict:
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish(reply_finish: str | None, usage: dict, params: dict) -> str:
    if reply_finish in ("stop", "length"):
        return reply_finish
    limit = params.get("max_new_tokens")
    return "length" if limit and int(usage.get("output_tokens") or 0) >= limit else "stop"


# --- chat ----------------------------------------------------------------------------------------------------


@require_POST
@openai_view
def chat_completions(request: HttpRequest, owner: str | None = None, name: str | None = None):
    body = json_body(request)
    endpoint = _resolve(request, body, "chat", owner, name)
    messages = _messages(body)
    params = generation_parameters(body, default_max_tokens=None)
    model = body.get("model") if isinstance(body.get("model"), str) else endpoint.full_name
    caller = dispatch.Caller.of(request, "openai.chat")
    dispatch.admit(caller)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = dispatch.stream(endpoint, caller=caller, task="chat", inputs=messages, parameters=params)
        return sse(_chat_chunks(peek(events, stream_error), model, include_usage))
    reply = dispatch.run(endpoint, caller=caller, task="chat", inputs=messages, parameters=params)
    outputs = reply.outputs if isinstance(reply.outputs, dict) else {}
    message = outputs.get("message") or {}
    return JsonResponse(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": endpoint.commit_sha[:12],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": message.get("content", "")},
                    "logprobs": None,
                    "finish_reason": _finish(outputs.get("finish_reason"), reply.usage, params),
                }
            ],
            "usage": _usage(reply.usage),
        }
    )


def _stream_error(event: dict) -> dict:
    """An error after the first token: OpenAI's error object as the last data chunk (the openai client raises it)."""
    error = {"message": event.get("message", "Inference failed."), "type": "server_error", "param": None}
    error["code"] = event.get("code") or "inference_error"
    return {"error": error}


def _chat_chunks(events: Iterator[dict], model: str, include_usage: bool) -> Iterator[dict | str]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = model

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for event in events:
        if event["type"] == "token":
            yield chunk({"content": event.get("text", "")})
        elif event["type"] == "done":
            yield chunk({}, event.get("finish_reason") or "stop")
            if include_usage:
                yield {**base, "choices": [], "usage": _usage(event.get("usage") or {})}
        elif event["type"] == "error":
            yield _stream_error(event)
            break
    yield "[DONE]"


# --- completions ---------------------------------------------------------------------------------------------


@require_POST
@openai_view
def completions(request: HttpRequest, owner: str | None = None, name: str | None = None):
    body = json_body(request)
    endpoint = _resolve(request, body, "text-generation", owner, name)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise _bad("'prompt' must be a non-empty string (one prompt per request).", "prompt")
    params = generation_parameters(body, default_max_tokens=16)
    params["return_full_text"] = False
    model = body.get("model") if isinstance(body.get("model"), str) else endpoint.full_name
    caller = dispatch.Caller.of(request, "openai.completions")
    dispatch.admit(caller)
    if body.get("stream"):
        events = dispatch.stream(endpoint, caller=caller, task="text-generation", inputs=prompt, parameters=params)
        return sse(_completion_chunks(peek(events, stream_error), model))
    reply = dispatch.run(endpoint, caller=caller, task="text-generation", inputs=prompt, parameters=params)
    outputs = reply.outputs if isinstance(reply.outputs, list) and reply.outputs else [{}]
    text = outputs[0].get("generated_text", "") if isinstance(outputs[0], dict) else ""
    return JsonResponse(
        {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"text": text, "index": 0, "logprobs": None, "finish_reason": _finish(None, reply.usage, params)}
            ],
            "usage": _usage(reply.usage),
        }
    )


def _completion_chunks(events: Iterator[dict], model: str) -> Iterator[dict | str]:
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()), "model": model}
    for event in events:
        if event["type"] == "token":
            choice = {"text": event.get("text", ""), "index": 0, "logprobs": None, "finish_reason": None}
            yield {**base, "choices": [choice]}
        elif event["type"] == "done":
            finish = event.get("finish_reason") or "stop"
            yield {**base, "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": finish}]}
        elif event["type"] == "error":
            yield _stream_error(event)
            break
    yield "[DONE]"


# --- embeddings ----------------------------------------------------------------------------------------------


@require_POST
@openai_view
def embeddings(request: HttpRequest, owner: str | None = None, name: str | None = None):
    body = json_body(request)
    endpoint = _resolve(request, body, "feature-extraction", owner, name)
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise _bad("'input' must be a non-empty string or a list of non-empty strings.", "input")
    if len(texts) > 2048:
        raise _bad("'input' may hold at most 2048 strings.", "input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise _bad("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    if body.get("dimensions") is not None:
        raise _bad("'dimensions' is not supported by this model.", "dimensions")
    caller = dispatch.Caller.of(request, "openai.embeddings")
    dispatch.admit(caller)
    reply = dispatch.run(endpoint, caller=caller, task="feature-extraction", inputs=texts, parameters={})
    vectors = reply.outputs if isinstance(reply.outputs, list) else []
    data = []
    for i, vector in enumerate(vectors):
        if encoding == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    prompt_tokens = int(reply.usage.get("input_tokens") or 0)
    model = body.get("model") if isinstance(body.get("model"), str) else endpoint.full_name
    return JsonResponse(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )


# --- models --------------------------------------------------------------------------------------------------


def _model_objects(request: HttpRequest, endpoints: list[Endpoint]) -> list[dict]:
    seen: dict[str, dict] = {}
    for e in endpoints:
        if not selectors.can_use(request.user, e):
            continue
        created = int(e.created_at.timestamp())
        meta = {"task": e.task, "state": e.state, "endpoint": e.full_name}
        for ident in (e.full_name, e.repo.full_name):
            item = {"id": ident, "object": "model", "created": created, "owned_by": e.namespace.name, **meta}
            seen.setdefault(ident, item)
    return sorted(seen.values(), key=lambda m: m["id"].lower())


@require_GET
@openai_view
def list_models(request: HttpRequest, owner: str | None = None, name: str | None = None):
    """Endpoints the caller may use (not paused or failed), each under its own name and its model's repo id."""
    if owner is not None:
        endpoints = [selectors.get_endpoint(request.user, owner, name)]
    else:
        if not request.user.is_authenticated:
            dispatch.admit(dispatch.Caller.of(request, "openai.models"))
        qs = selectors.visible_endpoints(request.user).exclude(state__in=[State.PAUSED, State.FAILED])
        endpoints = list(qs.order_by("-created_at")[:500])
    return JsonResponse({"object": "list", "data": _model_objects(request, endpoints)})


@require_GET
@openai_view
def get_model(request: HttpRequest, model: str):
    if not request.user.is_authenticated:
        dispatch.admit(dispatch.Caller.of(request, "openai.models"))
    for item in _model_objects(request, list(selectors.visible_endpoints(request.user).exclude(state=State.FAILED))):
        if item["id"].lower() == model.lower():
            return JsonResponse(item)
    raise NotFound(f"The model '{model}' does not exist or you do not have access to it.", code="model_not_found")
