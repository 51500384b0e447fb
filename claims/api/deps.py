"""What a route may depend on: the runtime, and the acting `Identity` (only ever the verified token's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from claims.api.guard import IDENTITY
from claims.domain.errors import NotAuthenticated
from claims.services.identity import Identity
from claims.services.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="A personal token from `claims login`, or a service token.")


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime()


def identity(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None) -> Identity:
    """The person the request's bearer token proved to the guard (claims.api.guard); never a name it carries.

    The `_bearer` parameter only documents the scheme in the OpenAPI document: the guard has
    verified the token before the route (and its body) was reached.
    """
    who = request.scope.get(IDENTITY)
    if not isinstance(who, Identity):
        raise NotAuthenticated("token: missing; send Authorization: Bearer <your token>")
    return who


Rt = Annotated[Runtime, Depends(runtime)]
Who = Annotated[Identity, Depends(identity)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="A row id (evidence item, review request).")]
