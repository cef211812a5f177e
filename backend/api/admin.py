"""Admin-only routes (``ADMIN_EMAILS``): key status (SEC-006) and a test alert (INFRA-010)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, status

from backend.api.deps import AUTH_ERRORS, AdminContractor, SettingsDep, errors
from backend.schemas.admin import KeyStatusList, KeyStatusOut, TestAlertOut
from backend.services import key_status
from backend.services.alerting_service import Alerts

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/key-status", response_model=KeyStatusList, responses=errors(*AUTH_ERRORS, 403))
async def get_key_status(_: AdminContractor, settings: SettingsDep) -> KeyStatusList:
    """Each tracked secret's presence, issue date, age and whether rotation is due — never any part of it."""
    return KeyStatusList(keys=[KeyStatusOut(**asdict(s)) for s in key_status.key_statuses(settings)])


@router.post("/alerts/test", status_code=status.HTTP_202_ACCEPTED, response_model=TestAlertOut,
             responses=errors(*AUTH_ERRORS, 403))
async def send_test_alert(admin: AdminContractor, request: Request) -> TestAlertOut:
    """Queue an info alert to the alert channel (sent in the background) and say what was sent."""
    alerts: Alerts = request.app.state.alerts
    title = f"Test alert {request.state.request_id[:8]}"  # unique: a second test is not de-duplicated
    message = f"A test alert requested by {admin.email}; alerting works."
    queued = alerts.send_alert("info", title, message, {"request_id": request.state.request_id,
                                                        "path": request.url.path})
    return TestAlertOut(queued=queued, severity="info", title=title, message=message,
                        delivery="slack" if alerts.webhook_url else "log_only")
