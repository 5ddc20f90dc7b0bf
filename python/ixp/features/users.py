"""The users and sessions API: `/api/users`, `/api/users/{id}`, `/api/users/{id}/session`
(docs/protocol.md §10). Storage errors carry their protocol codes (unknown user 404, duplicate
email 409, database down 503) and are answered by the HTTP boundary."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import msgspec

from ixp.base.errors import ErrorCode, IXPError
from ixp.features.contribution import Contribution
from ixp.features.schemas import SHARED, query
from ixp.http.access import AccessControl, Scope
from ixp.http.body import decode_json_body
from ixp.http.openapi import Operation, Reply, ref
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.storage.base import Session, UnknownUser, User
from ixp.storage.service import StorageService

MAX_IDS = 100
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
RECENT_INTENTS = 20
# Deliberately simple: one @, no spaces, a dot in the domain. Real validation is a confirmation mail.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_encode = msgspec.json.Encoder().encode


class NewUser(msgspec.Struct):
    email: str
    name: str


new_user_decoder = msgspec.json.Decoder(NewUser)


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "createdAt": user.created_at}


def session_json(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "createdAt": session.created_at,
        "lastSeenAt": session.last_seen_at,
        "recentIntents": session.context[::-1][:RECENT_INTENTS],  # newest first
        "intentCount": len(session.context),
    }


def parse_user_id(raw: Any, field: str = "id") -> int:
    """A positive integer id (ints and digit strings); anything else is a 400 naming the field."""
    if type(raw) is int:
        value = raw
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():  # not "²": int() fails
        value = int(raw.strip())
    else:
        raise IXPError(
            ErrorCode.INVALID_REQUEST, f"Field '{field}' must be a positive integer user id, got {raw!r}"
        )
    if not 1 <= value <= 2**63 - 1:
        raise IXPError(
            ErrorCode.INVALID_REQUEST, f"Field '{field}' must be a positive integer user id, got {raw!r}"
        )
    return value


def _positive(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_param(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise IXPError(
            ErrorCode.INVALID_REQUEST,
            f"Query parameter '{name}' must be an integer from 1 to {maximum}, got '{raw}'",
        )
    return int(raw)


_TAGS = ("users",)
_ID = MappingProxyType(
    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
)
CREATE_DOC = Operation(
    "Create a user",
    _TAGS,
    request={
        "type": "object",
        "required": ["email", "name"],
        "properties": {
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
        },
    },
    responses={
        201: Reply(
            "The user (its URL in `Location`)",
            ref("User"),
            links=tuple(
                (
                    name,
                    MappingProxyType({"operationId": operation, "parameters": {"id": "$response.body#/id"}}),
                )
                for name, operation in (
                    ("GetUser", "get_api_users_by_id"),
                    ("GetSession", "get_api_users_by_id_session"),
                )
            ),
        )
    },
    errors=("CONFLICT", "STORAGE_UNAVAILABLE"),
    example=MappingProxyType({"email": "ada@example.com", "name": "Ada Lovelace"}),
    auth=True,
    schemas=SHARED,
)
LIST_DOC = Operation(
    "Users by ids (`ids=1,2,3`), or a page of users, newest first",
    _TAGS,
    parameters=(
        query("ids", {"type": "string", "pattern": r"^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8}){0,99}$"}, "1,2,3"),
        query("page", {"type": "integer", "minimum": 1, "maximum": 10_000_000}),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    ),
    responses={
        200: Reply(
            "The users",
            {
                "type": "object",
                "required": ["users", "total"],
                "properties": {
                    "users": {"type": "array", "items": ref("User")},
                    "total": {"type": "integer"},
                },
            },
        )
    },
    errors=("INVALID_REQUEST", "STORAGE_UNAVAILABLE"),
    auth=True,
    schemas=SHARED,
)
GET_DOC = Operation(
    "One user",
    _TAGS,
    parameters=(_ID,),
    responses={200: Reply("The user", ref("User"))},
    errors=("INVALID_REQUEST", "USER_NOT_FOUND", "STORAGE_UNAVAILABLE"),
    auth=True,
    schemas=SHARED,
)
SESSION_DOC = Operation(
    "A user and their current session",
    _TAGS,
    parameters=(_ID,),
    responses={
        200: Reply(
            "The user and the session (null when none)",
            {
                "type": "object",
                "required": ["user", "session"],
                "properties": {
                    "user": ref("User"),
                    "session": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["id", "createdAt", "lastSeenAt", "recentIntents", "intentCount"],
                            },
                        ]
                    },
                },
            },
        )
    },
    errors=("INVALID_REQUEST", "USER_NOT_FOUND", "STORAGE_UNAVAILABLE"),
    auth=True,
    schemas=SHARED,
)


ERASE_DOC = Operation(
    "Erase a user, their sessions and their intent logs (204, then 404)",
    _TAGS,
    parameters=(_ID,),
    responses={204: Reply("Erased")},
    errors=("INVALID_REQUEST", "USER_NOT_FOUND", "STORAGE_UNAVAILABLE"),
    auth=True,
    schemas=SHARED,
)


def users(storage: StorageService, access: AccessControl) -> Contribution:

    async def create(request: Request) -> Response:
        await access.require(request, Scope.USERS_WRITE)
        body = decode_json_body(request, new_user_decoder)
        email = body.email.strip().lower()
        name = body.name.strip()
        if len(email) > 254 or not _EMAIL.match(email):
            raise IXPError(
                ErrorCode.INVALID_REQUEST,
                f"Field 'email' must be an email address like name@example.com, got {body.email!r}",
            )
        if not name or len(name) > 200:
            raise IXPError(ErrorCode.INVALID_REQUEST, "Field 'name' must be 1 to 200 characters")
        await storage.ready()
        user = await storage.store.create_user(email, name)
        return json_response(201, _encode(user_json(user)), [("location", f"/api/users/{user.id}")])

    async def known_user(request: Request) -> User:
        """The user named by the path's `{id}`: 400 if malformed, 404 if unknown."""
        user_id = parse_user_id(request.path_params["id"])
        user = await storage.user(user_id)
        if user is None:
            raise UnknownUser(user_id)
        return user

    async def get_one(request: Request) -> Response:
        await access.require(request, Scope.USERS_READ)
        return json_response(200, _encode(user_json(await known_user(request))))

    async def listing(request: Request) -> Response:
        await access.require(request, Scope.USERS_READ)
        raw_ids = request.query_param("ids")
        await storage.ready()
        if raw_ids is not None:
            parts = [p.strip() for p in raw_ids.split(",") if p.strip()]
            if not parts or len(parts) > MAX_IDS:
                raise IXPError(
                    ErrorCode.INVALID_REQUEST, f"Query parameter 'ids' must list 1 to {MAX_IDS} user ids"
                )
            ids = [parse_user_id(p, "ids") for p in parts]
            found = await storage.store.get_users(ids)
            return json_response(200, _encode({"users": [user_json(u) for u in found], "total": len(found)}))
        page = _positive(request, "page", 1, 10_000_000)
        limit = _positive(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        page_users, total = await storage.store.list_users(page, limit)
        body = {"users": [user_json(u) for u in page_users], "total": total, "page": page, "limit": limit}
        return json_response(200, _encode(body))

    async def session(request: Request) -> Response:
        await access.require(request, Scope.USERS_READ)
        user = await known_user(request)
        current = await storage.session(user.id)
        body = {"user": user_json(user), "session": session_json(current) if current is not None else None}
        return json_response(200, _encode(body))

    async def erase(request: Request) -> Response:
        """`DELETE /api/users/{id}`: the user, their sessions and intent logs, gone; 204, then 404."""
        await access.require(request, Scope.USERS_WRITE)
        user_id = parse_user_id(request.path_params["id"])
        if not await storage.erase_user(user_id):
            raise UnknownUser(user_id)
        return Response(204, [])

    return Contribution(
        "users",
        routes=[
            RouteSpec("POST", "/api/users", create, doc=CREATE_DOC),
            RouteSpec("GET", "/api/users", listing, doc=LIST_DOC),
            RouteSpec("GET", "/api/users/{id}", get_one, doc=GET_DOC),
            RouteSpec("GET", "/api/users/{id}/session", session, doc=SESSION_DOC),
            RouteSpec("DELETE", "/api/users/{id}", erase, doc=ERASE_DOC),
        ],
    )
