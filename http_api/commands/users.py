"""`User.Login` and `User.Logout`: the sessions the documents' `SessionID` parameter presumes.
Codes as the API family has them: 1 no Username, 2 no Password, 3 invalid login information."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from http_api.api_php import Access, Call, command, failed
from storage import accounts

SESSION_LIFETIME = timedelta(hours=24)


@command("user.login", Access.ANYONE)
async def login(call: Call) -> dict[str, Any]:
    username, password = call.get("Username"), call.get("Password")
    if username is None:
        return failed(1, "Username is missing")
    if password is None:
        return failed(2, "Password is missing")
    username, password = call.text("Username"), call.text("Password")
    session = None
    if username and password:  # text: a list, an object or a NUL names no one
        session = await accounts.login(call.db, username, password, SESSION_LIFETIME)
    if session is None:
        return failed(3, "Invalid login information")
    return {
        "Success": True,
        "ErrorCode": 0,
        "SessionID": session.session_id,
        "UserID": session.user_id,
        "ExpiresAt": session.expires_at.isoformat(),
    }


@command("user.logout")
async def logout(call: Call) -> dict[str, Any]:
    """Ends the session named by SessionID (a request made with an APIKey has none to end)."""
    session_id = call.get("SessionID")
    ended = bool(session_id) and await accounts.logout(call.db, str(session_id))
    return {"Success": True, "ErrorCode": 0, "LoggedOut": ended}
