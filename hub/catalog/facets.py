"""Facet counts of a set of repos: the total, the values of four columns, and two kinds of tags.

At 100,000 repos each GROUP BY is a scan, so the counts take two queries: on Postgres one scan with GROUPING
SETS gives the total and the four column facets (other databases run one query each), and one join over
RepoTag gives both tag facets. Each facet keeps its FETCH most frequent values.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from hub.accounts.models import Namespace
from hub.registry.models import Repo

FETCH = 40
COLUMNS = {"task": "pipeline_tag", "library": "library_name", "license": "license", "owner": "namespace_id"}
KEYS = ("task", "library", "license", "tags", "base_model", "owner")
BASE_MODEL_PREFIX = "base_model:"


def empty() -> dict:
    return {"total": 0} | {key: {} for key in KEYS}


def counts(qs: QuerySet[Repo]) -> dict:
    """{"total": n, "task": {value: n}, …, "owner": {name: n}} for the repos of `qs`."""
    base = qs.order_by()
    result = empty()
    if connection.vendor == "postgresql":
        _columns_in_one_scan(base, result)
    else:
        _columns_one_by_one(base, result)
    if not result["total"]:
        return result
    names = dict(Namespace.objects.filter(pk__in=result["owner"]).values_list("pk", "name"))
    result["owner"] = {names[pk]: n for pk, n in result["owner"].items() if pk in names}
    _tags(base, result)
    return result


def _columns_in_one_scan(base: QuerySet[Repo], result: dict) -> None:
    columns = list(COLUMNS.values())
    inner, params = base.values(*columns).query.sql_with_params()
    grouping = f"GROUPING({', '.join(columns)})"
    sets = ", ".join(f"({c})" for c in columns)
    sql = f"""
        SELECT * FROM (
            SELECT {grouping} AS g, {", ".join(columns)}, COUNT(*) AS n,
                   ROW_NUMBER() OVER (PARTITION BY {grouping} ORDER BY COUNT(*) DESC,
                                      COALESCE({", ".join(f"{c}::text" for c in columns)})) AS rank
            FROM ({inner}) AS r
            GROUP BY GROUPING SETS ((), {sets})
        ) AS facets
        WHERE rank <= %s"""
    # GROUPING() sets one bit per column left out of the group, the first column being the highest bit.
    bit_of = {key: 1 << (len(columns) - 1 - i) for i, key in enumerate(COLUMNS)}
    full = (1 << len(columns)) - 1
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, FETCH])
        for g, *values, n, _rank in cursor.fetchall():
            if g == full:
                result["total"] = n
                continue
            for i, key in enumerate(COLUMNS):
                if g == full ^ bit_of[key] and values[i] not in ("", None):
                    result[key][values[i]] = n


def _columns_one_by_one(base: QuerySet[Repo], result: dict) -> None:
    from django.db.models import Count

    result["total"] = base.count()
    if not result["total"]:
        return
    for key, column in COLUMNS.items():
        rows = base if key == "owner" else base.exclude(**{column: ""})
        rows = rows.values(column).annotate(n=Count("id")).order_by("-n", column)[:FETCH]
        result[key] = {row[column]: row["n"] for row in rows}


def _tags(base: QuerySet[Repo], result: dict) -> None:
    """Plain tags and base models in one join. License tags have a facet of their own, and relation tags
    (base_model:adapter:x) repeat base_model:x. The ids subquery is raw SQL: the registry's full-text condition
    names `registry_repo` itself, which breaks once Django aliases the table inside a subquery."""
    ids, params = base.values("id").query.sql_with_params()
    sql = f"""
        SELECT kind, tag, n FROM (
            SELECT kind, tag, n, ROW_NUMBER() OVER (PARTITION BY kind ORDER BY n DESC, tag) AS rank FROM (
                SELECT CASE WHEN tag LIKE 'base!_model:%%' ESCAPE '!' THEN 1 ELSE 0 END AS kind, tag, COUNT(*) AS n
                FROM registry_repotag
                WHERE repo_id IN ({ids})
                  AND tag NOT LIKE 'license:%%' AND tag NOT LIKE 'base!_model:%%:%%' ESCAPE '!'
                GROUP BY tag
            ) AS grouped
        ) AS ranked
        WHERE rank <= %s"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, FETCH + 40])  # tags lose task and library names later; fetch more
        for kind, tag, n in cursor.fetchall():
            if kind:
                result["base_model"][tag.removeprefix(BASE_MODEL_PREFIX)] = n
            else:
                result["tags"][tag] = n
