"""One error shape for every failure: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("callcue.server.errors")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None, *,
                 message_zh: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers
        self.message_zh = message_zh


def error_response(status: int, code: str, message: str, details=None, headers=None, *,
                   message_zh: str | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    if message_zh is not None:
        body["error"]["message_zh"] = message_zh
    if details is not None:
        body["error"]["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_CODES = {
    404: ("not_found", "No such endpoint. The API lives under /v1 (see /v1/health)."),
    405: ("method_not_allowed", "This endpoint does not accept that HTTP method."),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers, message_zh=exc.message_zh)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        details = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                return error_response(
                    400, "malformed_json",
                    f"The request body is not valid JSON ({e.get('ctx', {}).get('error', 'parse error')}).",
                    message_zh=f"请求正文不是有效的 JSON（{e.get('ctx', {}).get('error', 'parse error')}）。",
                )
            loc = [str(p) for p in e.get("loc", ())]
            details.append({"field": ".".join(loc), "problem": e.get("msg", "invalid")})
        fields = ", ".join(d["field"] for d in details[:5])
        return error_response(422, "invalid_request", f"Invalid request: check {fields}.", details,
                              message_zh=f"请求无效：请检查 {fields}。")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _database(_request: Request, exc: OperationalError):
        log.error("database unavailable", extra={"event": "db_error", "error": type(exc.orig).__name__})
        return error_response(
            503, "database_unavailable", "The analytics database is not reachable right now; try again shortly.",
            headers={"Retry-After": "5"},
        )
