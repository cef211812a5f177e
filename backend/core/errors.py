"""Domain errors: one base class, rendered by one handler (backend/main.py).

Services raise these; they never raise HTTPException. Every error becomes
``{"detail": <sentence>, "code": <snake_case>, "request_id": <id>}``.
"""

from __future__ import annotations


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.message = message or type(self).message
        self.headers = headers or {}
        super().__init__(self.message)


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"
    message = "Sign in first: this endpoint needs a bearer access token."


class TokenExpired(AppError):
    status_code = 401
    code = "token_expired"
    message = "Your session token has expired; refresh it or sign in again."


class TokenInvalid(AppError):
    status_code = 401
    code = "token_invalid"
    message = "The access token is not valid; sign in again."


class InvalidCredentials(AppError):
    status_code = 401
    code = "invalid_credentials"
    message = "The email or password is not correct."


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do that."


class AdminOnly(AppError):
    status_code = 403
    code = "admin_only"
    message = "Only administrators can do that."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."

    def __init__(self, what: str = "resource", **kwargs: object) -> None:
        super().__init__(f"That {what} does not exist.", **kwargs)  # type: ignore[arg-type]


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "That conflicts with the current state."


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with that email already exists; sign in instead."


class InvalidState(Conflict):
    code = "invalid_state"


class RequestValidationFailed(AppError):
    status_code = 422
    code = "validation_error"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable; try again in a few seconds."

    def __init__(self, message: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
