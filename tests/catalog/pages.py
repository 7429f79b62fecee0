"""Reading catalog pages in tests: repo names in the results, facet counts."""

import re


def names(response) -> list[str]:
    assert response.status_code == 200
    section = response.content.decode().split('id="results"', 1)[1].split("</ul>", 1)[0]
    return [
        f"{owner}{name}" for owner, name in re.findall(r'<span class="muted">([^<]+)</span>([^<]+)</span>', section)
    ]


def facet(response, key: str) -> dict[str, int]:
    html = response.content.decode()
    block = html.split(f'data-facet="{key}"', 1)[1].split("</section>", 1)[0]
    pairs = re.findall(r'<span class="facet-name">([^<]+)</span> <span class="count">([^<]+)</span>', block)
    return {name: int(count) for name, count in pairs}
