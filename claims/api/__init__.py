"""The claims HTTP API: every use case the CLI has, over HTTPS, for a person's own bearer token.

Thin: a route parses, calls one service as the token's verified `Identity`, and shapes the answer;
errors are the one hierarchy of claims.domain.errors rendered as RFC 9457 problems (claims.api.problems).
`claims serve` runs it with uvicorn (claims.api.server); the OpenAPI document is at /openapi.json.
"""

from claims.api.app import create_app

__all__ = ["create_app"]
