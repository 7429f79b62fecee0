"""Every URL pattern the hub serves, and how the authorisation matrix exercises it.

`all_patterns()` walks Django's resolver; each pattern must be in ROUTES (how to call it) or EXCLUDED (why not),
so a new route fails the matrix until someone decides what it needs. Scopes:

  repo     the URL names a repo (owner/name): the full matrix (twins, ghost comparison, role checks)
  owned    the caller's own things (tokens, orgs, jobs, endpoints): anonymous and read tokens never write
  public   anyone may read; anonymous and read-token writes change nothing
  signed   authorised by a signed URL or a Xet token, not by the caller's account: no 5xx, nothing changes
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver

SAFE = ("GET", "HEAD")


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    scope: str
    params: dict = field(default_factory=dict)  # overrides of the default parameter values below
    reader_posts: tuple[str, ...] = ()  # unsafe methods anyone who can read the repo may use (a like)
    read_only_posts: tuple[str, ...] = ()  # unsafe methods that write nothing at all (queries, inference)
    open_posts: tuple[str, ...] = ()  # unsafe methods open to anonymous callers (sign-in, sign-up)
    body: str | None = None


R, W, D = ("GET",), ("GET", "POST"), ("DELETE",)
TEXT = "/resolve/main/README.md"

ROUTES: dict[str, Route] = {
    # --- native API --------------------------------------------------------------------------------------
    "api/v1/health": Route(R, "public"),
    "api/v1/health/worker": Route(("POST",), "owned", read_only_posts=("POST",), params={"?": "timeout=0.01"}),
    "api/v1/me": Route(R, "owned"),
    "api/v1/tokens": Route(W, "owned", body='{"name": "x", "role": "write"}'),
    "api/v1/tokens/<int:token_id>": Route(("GET", "DELETE"), "owned"),
    "api/v1/orgs": Route(W, "owned", body='{"name": "neworg"}'),
    "api/v1/orgs/<str:name>": Route(R, "owned", params={"name": "acme"}),
    "api/v1/orgs/<str:name>/members": Route(
        W, "owned", params={"name": "acme"}, body='{"username": "oscar", "role": "admin"}'
    ),
    "api/v1/orgs/<str:name>/members/<str:username>": Route(D, "owned", params={"name": "acme", "username": "wanda"}),
    "api/v1/models": Route(R, "public"),
    "api/v1/datasets": Route(R, "public"),
    "api/v1/repos": Route(("POST",), "owned", body='{"name": "made", "owner": "acme"}'),
    "api/v1/blobs": Route(("POST",), "owned", body="blob-bytes"),
    "api/v1/<kind:kind>/<str:owner>/<str:name>": Route(("GET", "PATCH", "DELETE"), "repo", body='{"private": false}'),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/move": Route(("POST",), "repo", body='{"to": "acme/moved"}'),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/refs": Route(R, "repo"),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/branches": Route(("POST",), "repo", body='{"name": "new"}'),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/branches/<path:ref>": Route(D, "repo", params={"ref": "dev"}),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/tags": Route(("POST",), "repo", body='{"name": "v9"}'),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/tags/<path:ref>": Route(D, "repo", params={"ref": "v1"}),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/commits": Route(
        W, "repo", body='{"operations": [{"op": "add", "path": "x.txt", "content": "x"}]}'
    ),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/commits/<str:sha>": Route(R, "repo", params={"sha": "main"}),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/tree": Route(R, "repo"),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/files/<path:path>": Route(R, "repo"),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/compare": Route(R, "repo", params={"?": "base=v1&head=main"}),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/lineage": Route(R, "repo"),
    "api/v1/<kind:kind>/<str:owner>/<str:name>/like": Route(
        ("POST", "DELETE"), "repo", reader_posts=("POST", "DELETE")
    ),
    "api/v1/datasets/<str:owner>/<str:name>/viewer": Route(R, "repo"),
    "api/v1/datasets/<str:owner>/<str:name>/rows": Route(R, "repo"),
    "api/v1/jobs": Route(W, "owned", body='{"kind": "evaluate"}'),
    "api/v1/jobs/<int:job_id>": Route(R, "owned"),
    "api/v1/jobs/<int:job_id>/cancel": Route(("POST",), "owned"),
    "api/v1/jobs/<int:job_id>/retry": Route(("POST",), "owned"),
    "api/v1/jobs/<int:job_id>/events": Route(R, "owned"),
    "api/v1/jobs/<int:job_id>/events/stream": Route(R, "owned"),
    "api/v1/jobs/<int:job_id>/metrics": Route(R, "owned"),
    "api/v1/endpoints": Route(W, "owned", body='{"repo": "acme/secret-model"}'),
    "api/v1/endpoints/<str:owner>/<str:name>": Route(("GET", "PATCH", "DELETE"), "owned"),
    "api/v1/endpoints/<str:owner>/<str:name>/pause": Route(("POST",), "owned"),
    "api/v1/endpoints/<str:owner>/<str:name>/resume": Route(("POST",), "owned"),
    "api/v1/endpoints/<str:owner>/<str:name>/scale": Route(("POST",), "owned"),
    "api/v1/endpoints/<str:owner>/<str:name>/usage": Route(R, "owned"),
    "api/v1/endpoints/<str:owner>/<str:name>/events": Route(R, "owned"),
    "jobs": Route(R, "owned"),
    "jobs/new": Route(W, "owned", body="kind=evaluate&repo=acme/secret-model"),
    "jobs/compress": Route(W, "owned", body="kind=quantize&repo=acme/secret-model"),
    "jobs/<int:job_id>": Route(R, "owned"),
    "api/schema/": Route(R, "public"),
    "api/docs/": Route(R, "public"),
    # --- accounts pages --------------------------------------------------------------------------------
    "login": Route(W, "public", open_posts=("POST",)),
    "logout": Route(("POST",), "owned", open_posts=("POST",)),
    "settings/tokens": Route(W, "owned", body="name=x&role=write"),
    "settings/tokens/<int:token_id>/revoke": Route(("POST",), "owned"),
    # --- OpenAI and HF inference routes ----------------------------------------------------------------
    "^v1/chat/completions/?$": Route(
        ("POST",),
        "public",
        read_only_posts=("POST",),
        body='{"model": "acme/secret-model", "messages": [{"role": "user", "content": "hi"}]}',
    ),  # noqa: E501
    "^v1/completions/?$": Route(
        ("POST",), "public", read_only_posts=("POST",), body='{"model": "acme/secret-model", "prompt": "hi"}'
    ),
    "^v1/embeddings/?$": Route(
        ("POST",), "public", read_only_posts=("POST",), body='{"model": "acme/secret-model", "input": "hi"}'
    ),
    "^v1/models/?$": Route(R, "public"),
    "^v1/models/(?P<model>.+)$": Route(R, "public", params={"model": "acme/secret-model"}),
    "^models/(?P<owner>[^/]+)/(?P<name>[^/]+)/v1/chat/completions/?$": Route(
        ("POST",), "repo", read_only_posts=("POST",), body='{"messages": [{"role": "user", "content": "hi"}]}'
    ),
    "^models/(?P<owner>[^/]+)/(?P<name>[^/]+)/v1/completions/?$": Route(
        ("POST",), "repo", read_only_posts=("POST",), body='{"prompt": "hi"}'
    ),
    "^models/(?P<owner>[^/]+)/(?P<name>[^/]+)/v1/embeddings/?$": Route(
        ("POST",), "repo", read_only_posts=("POST",), body='{"input": "hi"}'
    ),
    "^models/(?P<owner>[^/]+)/(?P<name>[^/]+)/v1/models/?$": Route(R, "repo"),
    "^models/(?P<owner>[^/]+)/(?P<name>[^/]+)/pipeline/(?P<pipeline>[a-z-]+)$": Route(
        ("POST",), "repo", read_only_posts=("POST",), body='{"inputs": "hi"}'
    ),
    "^models/(?P<owner>[^/]+)/(?P<name>[^/]+)$": Route(
        ("POST",), "repo", read_only_posts=("POST",), body='{"inputs": "hi"}'
    ),
    "^endpoints/(?P<owner>[^/]+)/(?P<name>[^/]+)/v1/chat/completions/?$": Route(
        ("POST",), "owned", read_only_posts=("POST",), body='{"messages": [{"role": "user", "content": "hi"}]}'
    ),
    "^endpoints/(?P<owner>[^/]+)/(?P<name>[^/]+)/v1/completions/?$": Route(
        ("POST",), "owned", read_only_posts=("POST",), body='{"prompt": "hi"}'
    ),
    "^endpoints/(?P<owner>[^/]+)/(?P<name>[^/]+)/v1/embeddings/?$": Route(
        ("POST",), "owned", read_only_posts=("POST",), body='{"input": "hi"}'
    ),
    "^endpoints/(?P<owner>[^/]+)/(?P<name>[^/]+)/v1/models/?$": Route(R, "owned"),
    "endpoints": Route(R, "owned"),
    "endpoints/new": Route(W, "owned", body="repo=acme/secret-model&name=x"),
    "^endpoints/(?P<owner>[^/]+)/(?P<name>[^/]+)$": Route(R, "owned"),
    "^endpoints/(?P<owner>[^/]+)/(?P<name>[^/]+)/(?P<verb>pause|resume|scale|revision|delete)$": Route(
        ("POST",), "owned", params={"verb": "delete"}
    ),
    # --- Xet -------------------------------------------------------------------------------------------
    "^api/(?P<kind>models|datasets)/(?P<owner>[^/]+)/(?P<name>[^/]+)/xet-write-token/(?P<rev>.+)$": Route(R, "repo"),
    "^api/(?P<kind>models|datasets)/(?P<owner>[^/]+)/(?P<name>[^/]+)/xet-read-token/(?P<rev>.+)$": Route(R, "repo"),
    "xet/cas/v1/xorbs/<str:prefix>/<str:xorb_hash>": Route(("POST",), "signed"),
    "xet/cas/v1/shards": Route(("POST",), "signed"),
    "xet/cas/v1/reconstructions/<str:file_hash>": Route(R, "signed"),
    "xet/cas/v1/chunks/<str:prefix>/<str:chunk_hash>": Route(R, "signed"),
    "xet/data/<str:xorb_hash>": Route(R, "signed"),
    "v1/telemetry": Route(("POST",), "public", read_only_posts=("POST",)),
    # --- HF protocol -------------------------------------------------------------------------------------
    "api/agent-harnesses": Route(R, "public"),
    "api/whoami-v2": Route(R, "owned"),
    "api/validate-yaml": Route(("POST",), "public", read_only_posts=("POST",), body='{"content": "---\\n---\\n"}'),
    "api/repos/create": Route(("POST",), "owned", body='{"name": "made", "organization": "acme"}'),
    "api/repos/delete": Route(("DELETE",), "owned", body='{"name": "secret-model", "organization": "acme"}'),
    "api/repos/move": Route(("POST",), "owned", body='{"fromRepo": "acme/secret-model", "toRepo": "acme/moved"}'),
    "api/lfs/objects/<str:oid>": Route(("GET", "PUT"), "signed"),
    "api/lfs/multipart/<str:oid>/complete": Route(("POST",), "signed"),
    "api/lfs/multipart/<str:oid>/<int:part>": Route(("PUT",), "signed"),
    "api/lfs/verify": Route(("POST",), "signed", read_only_posts=("POST",)),  # checks an upload, writes nothing
    "^api/(?P<kind>models|datasets|spaces)$": Route(R, "public"),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)$": Route(R, "repo"),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/revision/(?P<revision>.+)$": Route(
        R, "repo"
    ),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/settings$": Route(
        ("PUT",), "repo", body='{"private": false}'
    ),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/tree/(?P<rest>.+)$": Route(
        R, "repo", params={"rest": "main"}
    ),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/paths-info/(?P<revision>.+)$": Route(
        ("POST",), "repo", read_only_posts=("POST",), body='{"paths": ["README.md"]}'
    ),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/refs$": Route(R, "repo"),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/commits/(?P<revision>.+)$": Route(
        R, "repo"
    ),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/branch/(?P<branch>.+)$": Route(
        ("POST", "DELETE"), "repo", params={"branch": "dev"}
    ),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/tag/(?P<ref>.+)$": Route(
        ("POST", "DELETE"), "repo", params={"ref": "v1"}, body='{"tag": "v9"}'
    ),
    # POST answers "not supported" and writes nothing
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/discussions$": Route(
        W, "repo", read_only_posts=("POST",)
    ),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/preupload/(?P<revision>.+)$": Route(
        ("POST",), "repo", body='{"files": [{"path": "x.txt", "size": 1, "sample": ""}]}'
    ),
    "^api/(?P<kind>models|datasets|spaces)/(?P<owner>[^/]+)/(?P<name>[^/]+)/commit/(?P<revision>.+)$": Route(
        ("POST",),
        "repo",
        body='{"key": "header", "value": {"summary": "x"}}\n'
        '{"key": "file", "value": {"path": "x.txt", "content": "eA=="}}\n',
    ),  # fmt: skip
    r"^datasets/(?P<owner>[^/]+)/(?P<name>[^/]+)\.git/info/lfs/objects/batch$": Route(
        ("POST",), "repo", read_only_posts=("POST",), body='{"operation": "download", "objects": []}'
    ),
    r"^(?P<owner>[^/]+)/(?P<name>[^/]+)\.git/info/lfs/objects/batch$": Route(
        ("POST",), "repo", read_only_posts=("POST",), body='{"operation": "download", "objects": []}'
    ),
    "^datasets/(?P<owner>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rest>.+)$": Route(("GET", "HEAD"), "repo"),
    "^(?P<owner>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rest>.+)$": Route(("GET", "HEAD"), "repo"),
    # --- web catalog -----------------------------------------------------------------------------------
    "": Route(R, "public"),
    "models": Route(R, "public"),
    "datasets": Route(R, "public"),
    "signup": Route(W, "public", open_posts=("POST",), body="username=newbie&password=a-long-passphrase&email="),
    "new": Route(W, "owned", body="type=model&owner=acme&name=made"),
    "^(?P<owner>[^/]+)$": Route(R, "public", params={"owner": "acme"}),
}
for _prefix in ("^datasets/", "^"):
    _base = _prefix + "(?P<owner>[^/]+)/(?P<name>[^/]+)"
    ROUTES |= {
        f"{_base}$": Route(R, "repo"),
        f"{_base}/tree$": Route(R, "repo"),
        f"{_base}/tree/(?P<rest>.+)$": Route(R, "repo", params={"rest": "main"}),
        f"{_base}/blob/(?P<rest>.+)$": Route(R, "repo"),
        f"{_base}/commits$": Route(R, "repo"),
        f"{_base}/commits/(?P<rest>.+)$": Route(R, "repo", params={"rest": "main"}),
        f"{_base}/commit/(?P<sha>[0-9a-fA-F]{{4,40}})$": Route(R, "repo"),
        f"{_base}/compare$": Route(R, "repo", params={"?": "base=v1&head=main"}),
        f"{_base}/upload$": Route(R, "repo"),
        f"{_base}/upload/blob$": Route(("POST",), "repo", body="blob-bytes"),
        f"{_base}/like$": Route(("POST",), "repo", reader_posts=("POST",)),
    }
ROUTES["^(?P<owner>[^/]+)/(?P<name>[^/]+)/lineage$"] = Route(R, "repo")

EXCLUDED: dict[str, str] = {
    "admin/": "Django admin: staff only (is_staff), its own login; covered by test_admin_is_staff_only",
}

DEFAULT_PARAMS = {
    "rest": "main/README.md", "revision": "main", "rev": "main", "path": "README.md", "ref": "main",
    "branch": "dev", "job_id": "999999", "token_id": "999999", "username": "wanda", "oid": "0" * 64, "part": "1",
    "prefix": "default", "xorb_hash": "0" * 64, "chunk_hash": "0" * 64, "file_hash": "0" * 64,
    "pipeline": "text-classification", "verb": "pause", "model": "acme/secret-model", "owner": "acme",
    "name": "nothing", "kind": "models",
}  # fmt: skip


@dataclass(frozen=True)
class Pattern:
    key: str
    route: str  # the joined pattern text
    regex: bool
    defaults: dict


def all_patterns() -> list[Pattern]:
    found: list[Pattern] = []

    def walk(resolver: URLResolver, prefix: str, defaults: dict) -> None:
        for p in resolver.url_patterns:
            text = str(p.pattern)
            if isinstance(p, URLResolver):
                if text in EXCLUDED and not prefix:
                    found.append(Pattern(text, text, False, {}))
                    continue
                walk(p, prefix + text, {**defaults, **p.default_kwargs})
            elif isinstance(p, URLPattern):
                key = prefix + text
                found.append(Pattern(key, key, text.startswith("^"), {**defaults, **p.default_args}))

    walk(get_resolver(), "", {})
    return found


_NAMED = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def params_of(pattern: Pattern) -> set[str]:
    return set((_NAMED if pattern.regex else _CONVERTER).findall(pattern.route))


def build_url(pattern: Pattern, values: dict[str, str]) -> str:
    def sub(match: re.Match) -> str:
        return values[match.group(1)]

    if pattern.regex:
        text = _NAMED.sub(sub, pattern.route).lstrip("^").rstrip("$")
        text = text.replace("/?", "").replace(r"\.", ".")
    else:
        text = _CONVERTER.sub(sub, pattern.route)
    query = values.get("?")
    return "/" + text + (f"?{query}" if query else "")


def repo_type_of(pattern: Pattern) -> str | None:
    """'model' or 'dataset' when the URL fixes it; None when a `kind` parameter chooses."""
    if "kind" in params_of(pattern):
        return None
    kind = str(pattern.defaults.get("kind", ""))
    if kind.startswith("dataset") or pattern.route.startswith(("^datasets/", "api/v1/datasets/")):
        return "dataset"
    return "model"
