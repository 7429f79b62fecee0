"""Native REST API of the dataset viewer. Thin: parse input, call selectors, render output."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from hub.core.http import int_param, page_link
from hub.datasets import selectors
from hub.datasets.values import jsonable
from hub.registry import selectors as registry
from hub.registry.api.views import RepoView

MAX_ROWS_PAGE = 100


_int = int_param  # one parser for every API module (hub.core.http)


class ViewerView(RepoView):
    """GET /api/v1/datasets/{owner}/{name}/viewer: splits, and each data file's format, schema, rows, preview."""

    @extend_schema(
        summary="Dataset viewer: splits and each data file's schema, row count and preview",
        parameters=[OpenApiParameter("revision", str, required=False, description="Branch, tag or commit id")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, **kwargs):
        commit = registry.resolve_revision(self.repo, request.query_params.get("revision"))
        return Response(selectors.dataset_info(self.repo, commit))


class RowsView(RepoView):
    """GET /api/v1/datasets/{owner}/{name}/rows: a page of one split's rows."""

    @extend_schema(
        summary="Rows of a dataset split, paginated",
        parameters=[
            OpenApiParameter("revision", str, required=False),
            OpenApiParameter("split", str, required=False, description="Split name (default train) or a file path"),
            OpenApiParameter("offset", int, required=False),
            OpenApiParameter("limit", int, required=False, description=f"At most {MAX_ROWS_PAGE}"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, **kwargs):
        p = request.query_params
        commit = registry.resolve_revision(self.repo, p.get("revision"))
        split = p.get("split") or "train"
        offset = _int(p.get("offset"), 0, name="offset", low=0, high=10**12)
        limit = _int(p.get("limit"), MAX_ROWS_PAGE, name="limit", low=1, high=MAX_ROWS_PAGE)
        table = selectors.split_table(self.repo, commit, split)
        rows = selectors.read_split(self.repo, commit, split, offset=offset, limit=limit + 1)
        has_next = len(rows) > limit
        body = {
            "revision": commit.sha,
            "split": split,
            "offset": offset,
            "limit": limit,
            "total": table["rows"],
            "columns": table["columns"],
            "rows": [jsonable(row) for row in rows[:limit]],
            "next": page_link(request, offset=offset + limit, limit=limit) if has_next else None,
        }
        response = Response(body)
        if has_next:
            response["Link"] = f'<{body["next"]}>; rel="next"'
        return response
