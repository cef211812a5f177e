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


class PayloadTooLarge(AppError):
    status_code = 413
    code = "body_too_large"
    message = "The upload is too large."


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    message = "That file type is not supported."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable; try again in a few seconds."

    def __init__(self, message: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class WrongPassword(AppError):
    status_code = 403
    code = "wrong_password"
    message = "The current password is not correct."


class CsrfFailed(AppError):
    status_code = 403
    code = "csrf_failed"
    message = "Refreshing or signing out with the cookie needs the header 'X-Requested-With: quoted'."


class RefreshSuperseded(AppError):
    status_code = 401
    code = "refresh_superseded"
    message = "This refresh token was just rotated by another tab; retry with the current cookie."


class RefreshReused(AppError):
    status_code = 401
    code = "refresh_reused"
    message = "This refresh token was already used; every session from that sign-in was ended. Sign in again."


class RefreshExpired(AppError):
    status_code = 401
    code = "refresh_expired"
    message = "Your session has expired; sign in again."


class RefreshRevoked(AppError):
    status_code = 401
    code = "refresh_revoked"
    message = "This session was signed out; sign in again."


class RefreshInvalid(AppError):
    status_code = 401
    code = "refresh_invalid"
    message = "The refresh token is not valid; sign in again."


# -- vendors (INFRA-006 / INFRA-009) ----------------------------------------------------


class VendorUnavailable(ServiceUnavailable):
    """A vendor (Claude, OpenAI, Stripe, Resend, Slack) is down or its circuit breaker is open.

    The message is a plain sentence for the person using the app; the vendor's
    own error never reaches a response.
    """

    message = "A service we depend on is unavailable right now; try again in a minute."

    def __init__(self, message: str | None = None, *, vendor: str = "", retry_after: int = 30) -> None:
        super().__init__(message, retry_after=retry_after)
        self.vendor = vendor


# -- billing (PAY-001) -------------------------------------------------------------------


class QuotaExceeded(AppError):
    """The plan does not allow another quote now (quota used, trial over, canceled, unpaid)."""

    status_code = 402
    code = "quota_exceeded"
    message = "Your plan does not allow more quotes right now; choose a plan under Billing to continue."


class InvalidSignature(AppError):
    status_code = 400
    code = "invalid_signature"
    message = "The Stripe-Signature header is missing, malformed, too old or does not match the body."


class InvalidPayload(AppError):
    status_code = 400
    code = "invalid_payload"
    message = "The webhook body is not a Stripe event."


class WebhookProcessingFailed(AppError):
    """Applying a verified event failed: 500, so Stripe delivers it again (it is not marked processed)."""

    status_code = 500
    code = "internal_error"
    message = "The event could not be processed; it will be retried."
