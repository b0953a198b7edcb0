"""One JSON error shape for every API failure:

    {"error": {"code": "invalid_request", "message": "...", "details": [...]}}
"""
from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}


def error_body(code: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/up", "/exports/"))


def register_error_handlers(app: Flask) -> None:
    from .access import AccessError

    @app.errorhandler(AccessError)
    def access_error(err: AccessError):
        return jsonify(error_body(err.code, err.message)), err.status

    @app.errorhandler(ApiError)
    def api_error(err: ApiError):
        return jsonify(error_body(err.code, err.message, err.details)), err.status, err.headers

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if not _wants_json():
            return err
        code = (err.name or "error").lower().replace(" ", "_")
        return jsonify(error_body(code, err.description or err.name)), err.code
