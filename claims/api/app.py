"""The app factory: routes, the guard (token before body, limits), the problem mapping, the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from claims.api import problems
from claims.api.guard import Guard, Limits
from claims.api.routers import claims, members, reviews, runs
from claims.api.schemas import Health
from claims.services.runtime import Runtime


def limits_from_settings() -> Limits:
    from claims.settings import get_settings

    s = get_settings()
    return Limits(
        max_body=int(s.api_max_body_mib * 1024 * 1024),
        body_timeout=s.api_body_timeout,
        concurrency=s.api_concurrency,
        queue_seconds=s.api_queue_seconds,
    )


def create_app(runtime: Runtime | Callable[[], Runtime] | None = None, limits: Limits | None = None) -> FastAPI:
    """The API on `runtime` (default: from the settings, read once); `limits` default from the settings."""
    if runtime is None:
        runtime = Runtime.from_settings()
    rt = runtime if callable(runtime) else (lambda: runtime)
    app = FastAPI(
        title="claims",
        summary="Claim verification: graded evidence, threshold policy, four-eyes sign-off.",
        version="1",
        docs_url=None,  # the interactive pages load scripts from a CDN: nothing is fetched at run time
        redoc_url=None,
    )
    app.state.runtime = rt
    problems.install(app)

    @app.get("/health", response_model=Health, tags=["health"])
    def health() -> dict[str, str]:
        """Up or not: nothing about the server, its database or its users."""
        return {"status": "ok"}

    for router in (claims.router, reviews.router, runs.router, members.router):
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(Guard, runtime=rt, limits=limits or limits_from_settings())
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error answer said as RFC 9457 application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    for path in doc["paths"].values():
        for operation in path.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code[0] in "45" and "application/json" in content:
                    response["content"] = {problems.MEDIA: content["application/json"]}
    app.openapi_schema = doc
    return doc
