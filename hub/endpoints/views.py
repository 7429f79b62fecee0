"""Endpoint pages: list, create (the model page's Deploy button), detail with playground, usage and events."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from hub.accounts.selectors import get_namespace, user_organisations
from hub.core.errors import HubError, NotFound
from hub.endpoints import hf, selectors, services
from hub.endpoints.models import Hardware, Task
from hub.registry.models import RepoType
from hub.registry.selectors import get_repo


@login_required
def listing(request: HttpRequest) -> HttpResponse:
    endpoints = list(selectors.manageable_endpoints(request.user)[:200])
    return render(request, "endpoints/list.html", {"endpoints": endpoints})


def _namespaces(user) -> list[str]:
    names = [user.username]
    names += [org.name for org, role in user_organisations(user) if role in ("write", "admin")]
    return names


@login_required
def new(request: HttpRequest) -> HttpResponse:
    model = request.POST.get("model") or request.GET.get("model") or ""
    form = {"model": model, "name": model.rsplit("/", 1)[-1] if model else "", "namespace": request.user.username,
            "task": "", "revision": "main", "hardware": "cpu", "min_replicas": 0, "max_replicas": 1,
            "idle_timeout_s": 900, "max_batch_size": 32, "max_wait_ms": 5}  # fmt: skip
    error = None
    repo = None
    if model:
        try:
            repo = get_repo(user=request.user, type=RepoType.MODEL, full_name=model)
            from hub.endpoints.api import _default_task

            form["task"] = _default_task(repo)
        except HubError:
            form["task"] = ""
    if request.method == "POST":
        form.update({k: v for k, v in request.POST.items() if k in form})
        try:
            if repo is None:
                raise NotFound(f"Model {model or '(none)'} not found.")
            endpoint = services.create_endpoint(
                user=request.user, namespace=get_namespace(form["namespace"]), name=form["name"], repo=repo,
                task=form["task"], revision=form["revision"], hardware=form["hardware"],
                min_replicas=form["min_replicas"], max_replicas=form["max_replicas"],
                idle_timeout_s=form["idle_timeout_s"], max_batch_size=form["max_batch_size"],
                max_wait_ms=form["max_wait_ms"], private=request.POST.get("private") == "on",
            )  # fmt: skip
        except HubError as exc:
            error = exc.message
        else:
            messages.success(request, f"Endpoint {endpoint.full_name} created.")
            return redirect(f"/endpoints/{endpoint.full_name}")
    context = {"form": form, "error": error, "tasks": Task.choices, "hardware": Hardware.choices,
               "namespaces": _namespaces(request.user)}  # fmt: skip
    return render(request, "endpoints/new.html", context, status=400 if error else 200)


@csrf_exempt  # POST is inference with a bearer token; hf.endpoint_inference checks CSRF for browser sessions
def detail(request: HttpRequest, owner: str, name: str) -> HttpResponse:
    """GET: the endpoint's page. POST: inference at the endpoint's URL (HF payloads)."""
    if request.method == "POST":
        return hf.endpoint_inference(request, owner, name)
    try:
        endpoint = selectors.get_endpoint(request.user, owner, name)
    except NotFound:
        raise Http404 from None
    manage = services.can_manage(request.user, endpoint.namespace)
    usage = selectors.usage(endpoint, user=None if manage else request.user, days=7)
    url = request.build_absolute_uri(f"/endpoints/{endpoint.full_name}")
    context = {
        "endpoint": endpoint,
        "manage": manage,
        "usage": usage,
        "events": endpoint.events.order_by("-id")[:30],
        "url": url,
        "snippets": _snippets(request, endpoint, url),
        "example": json.dumps(_example(endpoint.task), indent=2),
    }
    return render(request, "endpoints/detail.html", context)


def _example(task: str) -> dict:
    return {
        Task.FEATURE_EXTRACTION: {"inputs": ["The cat sat on the mat.", "A dog barked."]},
        Task.TEXT_CLASSIFICATION: {"inputs": "I love this!"},
        Task.FILL_MASK: {"inputs": "Paris is the [MASK] of France."},
        Task.TOKEN_CLASSIFICATION: {"inputs": "My name is Sarah and I live in London."},
        Task.TEXT_GENERATION: {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 32}},
        Task.CHAT: {
            "inputs": [{"role": "user", "content": "What is the capital of France?"}],
            "parameters": {"max_new_tokens": 64},
        },  # fmt: skip
    }[task]


def _snippets(request: HttpRequest, endpoint, url: str) -> list[dict]:
    base = request.build_absolute_uri("/v1")
    payload = json.dumps(_example(endpoint.task))
    auth = '-H "Authorization: Bearer $HUB_TOKEN"'
    curl = f"curl {url} \\\n  {auth} \\\n  -H 'Content-Type: application/json' \\\n  -d '{payload}'"
    snippets = [{"key": "curl", "label": "curl", "code": curl}]
    name = endpoint.full_name
    hf_head = "from huggingface_hub import InferenceClient\n\n"
    hf_head += f'client = InferenceClient(model="{url}", token=HUB_TOKEN)\n'
    if endpoint.task == Task.FEATURE_EXTRACTION:
        py = (f'from openai import OpenAI\n\nclient = OpenAI(base_url="{base}", api_key=HUB_TOKEN)\n'
              f'print(client.embeddings.create(model="{name}", input=["hello"]).data[0].embedding[:4])')  # fmt: skip
        hf_code = (hf_head +
                   'print(client.feature_extraction("hello").shape)')  # fmt: skip
    elif endpoint.task in (Task.CHAT, Task.TEXT_GENERATION):
        py = (f'from openai import OpenAI\n\nclient = OpenAI(base_url="{base}", api_key=HUB_TOKEN)\n'
              f'stream = client.chat.completions.create(model="{name}", stream=True,\n'
              '    messages=[{"role": "user", "content": "Hello!"}])\n'
              'for chunk in stream:\n    print(chunk.choices[0].delta.content or "", end="")')  # fmt: skip
        hf_code = (hf_head +
                   'for chunk in client.chat_completion([{"role": "user", "content": "Hello!"}], stream=True):\n'
                   '    print(chunk.choices[0].delta.content or "", end="")')  # fmt: skip
    else:
        py = None
        method = endpoint.task.replace("-", "_")
        hf_code = (hf_head +
                   f'print(client.{method}({json.dumps(_example(endpoint.task)["inputs"])}))')  # fmt: skip
    if py:
        snippets.append({"key": "openai", "label": "OpenAI (Python)", "code": py})
    snippets.append({"key": "hf", "label": "huggingface_hub", "code": hf_code})
    return snippets


@login_required
@require_POST
def action(request: HttpRequest, owner: str, name: str, verb: str) -> HttpResponse:
    try:
        endpoint = selectors.get_endpoint(request.user, owner, name)
    except NotFound:
        raise Http404 from None
    try:
        if verb == "pause":
            services.pause(endpoint=endpoint, user=request.user)
        elif verb == "resume":
            services.resume(endpoint=endpoint, user=request.user)
        elif verb == "scale":
            services.scale(
                endpoint=endpoint, user=request.user, min_replicas=request.POST.get("min_replicas"),
                max_replicas=request.POST.get("max_replicas"),
                idle_timeout_s=request.POST.get("idle_timeout_s") or None,
            )  # fmt: skip
        elif verb == "revision":
            services.update_revision(endpoint=endpoint, user=request.user, revision=request.POST.get("revision", ""))
        elif verb == "delete":
            services.delete(endpoint=endpoint, user=request.user)
            messages.success(request, f"Endpoint {endpoint.full_name} deleted.")
            return redirect("/endpoints")
        else:
            raise Http404
    except HubError as exc:
        messages.error(request, exc.message)
    return redirect(f"/endpoints/{endpoint.full_name}")
