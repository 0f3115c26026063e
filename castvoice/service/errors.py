"""Errors the service answers with, as JSON in the shape OpenAI clients read:
{"error": {"message": ..., "type": ..., "code": ..., "param": ...}}."""

from __future__ import annotations

from http import HTTPStatus

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               413: "invalid_request_error", 415: "invalid_request_error", 422: "invalid_request_error",
               429: "rate_limit_error", 503: "server_busy", 504: "timeout"}


class ApiError(Exception):
    """A request the service turns down or could not finish, with its HTTP status."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.status, self.message, self.code, self.param)


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    """The JSON body of an error answer."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    if code is None:
        try:
            code = HTTPStatus(status).phrase.lower().replace(" ", "_")
        except ValueError:  # e.g. 499, which HTTP itself does not name
            code = "error"
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


class Stopped(Exception):
    """Raised inside a job whose request timed out or whose client went away."""
