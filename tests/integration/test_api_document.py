"""The OpenAPI document lists every route under /api/v1, is generated from the endpoint models,
and its reference page is plain server-rendered HTML (no script, nothing from another host)."""
from __future__ import annotations

import re

from tracker.web.api import api
from tracker.web.api.schemas import ForecastIn


def _flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len("/api/v1"):])
            routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_every_api_route_is_in_the_document(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    documented = {(method, path) for path, methods in document["paths"].items() for method in methods}
    routes = _flask_routes(app)
    assert routes and routes == documented
    assert len(routes) == len(api.operations)


def test_document_is_openapi_31_with_the_models_schemas(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    body = document["paths"]["/questions/{slug}/forecasts"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    assert document["components"]["schemas"][name]["properties"] == ForecastIn.model_json_schema()["properties"]
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            assert "422" in op["responses"] and "429" in op["responses"], (method, path)


def test_document_loads_in_schemathesis(client):
    import schemathesis

    schema = schemathesis.openapi.from_dict(client.get("/api/v1/openapi.json").get_json())
    assert len(list(schema.get_all_operations())) == len(api.operations)


def test_reference_page_is_plain_html(client):
    response = client.get("/api/v1/docs")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    for op in api.operations:
        assert f'id="op-{op.endpoint}"' in page
    assert 'id="schema-ForecastIn"' in page


def test_readme_examples_use_documented_operations(client):
    """The README's curl and httpx examples name operations that exist, on a question that ships."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## JSON API"):readme.index("## Question files")]
    document = client.get("/api/v1/openapi.json").get_json()
    patterns = [re.compile("^" + re.sub(r"\{[a-z_]+\}", "[^/]+", path) + "$") for path in document["paths"]]
    used = re.findall(r'(?:\$API|api/v1|base_url="[^"]*/api/v1"\)\n[^\n]*?)(/[a-z0-9/_.-]*[a-z0-9/_-])', section)
    used += re.findall(r'api\.(?:get|post)\(f?"(/[a-z0-9/_-]+)', section)
    used = [path.rstrip("/") or "/" for path in used]  # "/questions/SLUG": the placeholder is left off
    assert len(set(used)) >= 4
    for path in used:
        assert any(p.match(path) for p in patterns), path
    slugs = set(re.findall(r"/questions/([a-z0-9-]+)/forecasts", section))
    assert slugs and all((root / "questions" / f"{slug}.yaml").exists() for slug in slugs)
