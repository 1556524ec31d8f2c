"""`/rest/account/create`: a primary account creates a sub account (or another primary one),
and `GET /account-activate/{token}`, the link that activates it.

Every account is a Mailgate user (storage/accounts.create_user): its answer carries the REST
credentials the document names (`hash`, `api_key`, `api_secret`) and, as `gateway_api_key`, the
user's key for `/api.php`, so that the same person can use the Email Gateway API too.

Parameters and the choices made where 003 says little:

- `child_account` (default sub): sub (`sub`, `child`, 1, yes, true) makes the caller the new
  account's parent; primary (`primary`, 0, no, false) makes an account without one. Only a
  primary account may create accounts at all: a sub account is answered 1513. (1004 stays the
  protocol's: an account that is not active, such as a sub account awaiting activation, is
  answered 1004 for every action.)
- `activation` (default yes): the account starts UNVERIFIED and cannot sign requests (1004) nor
  use its gateway key until its activation link is followed; `no` makes it active at once, and
  then no mail is sent whatever `activation_mail` says (there is nothing to activate).
- `activation_mail` (default yes): the link is mailed to the login through Mailgate itself as
  the gateway's other account mail is (mta/campaigns/confirmation_mail.py): from `noreply@` the
  caller's oldest Enabled sender domain, through the submission path (sender policy, suppressions,
  sending limits, DKIM, queue), untracked. A caller with no such domain, whose domain may not
  send, or whose mail to the login is refused or cannot be queued (suppressed, sending limit
  reached, queue unavailable) is answered 1510, and no account is left behind (one saved
  already is removed again). With `activation_mail=no` the answer carries the link as
  `activation_url`, for the caller to deliver.
- 1503 ("Already logged in"): the login is the address of an existing account. 1512: it was free
  when checked and taken by the time the account was saved (two requests at once). 1511: values
  no code of their own names (longer than their field, a line break, an option that is neither
  yes nor no) and a failure of the store other than a duplicate.
- Passwords: at least 8 characters with an upper-case letter and a special character (neither a
  letter, a digit nor white space); stored with argon2 by create_user, never logged.

The activation token (storage/tokens.id_token) is the account's id and an HMAC-SHA256 (128
bits) over the id and the account's random hash, under a key derived from the server key with a
label of its own: an altered token, or one of an account since removed, answers 404; a
deactivated account is not made active again (410). It does not expire.
"""

from __future__ import annotations

import functools
import html
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response

from http_api.context import context
from http_api.networks import client_host
from http_api.pages import not_found, page
from http_api.rest.protocol import RestCall, RestError, action
from mta.campaigns.confirmation_mail import NotSent, account_sender, noreply_address, send_untracked
from mta.submission.composition import Draft, Mailbox, checked_address
from mta.submission.submit import Gateway, Origin
from storage.accounts import (
    AlreadyExists,
    NewUser,
    account_state,
    activate_user,
    create_user,
    email_taken,
    remove_unverified_user,
)
from storage.domains import SenderContext
from storage.models import User, UserStatus
from storage.tokens import derive_key, id_of_token, id_token, same_secret

log = logging.getLogger("mailgate.rest")

NO_LOGIN = 1501
INCORRECT_LOGIN = 1502
LOGIN_TAKEN = 1503
NO_PASSWORD = 1504
WEAK_PASSWORD = 1505
NO_FIRST_NAME = 1506
NO_LAST_NAME = 1507
NO_PHONE = 1509
CREATION_ERROR = 1510
NOT_CREATED = 1511
NOT_SAVED = 1512
NO_PERMISSION = 1513

ACTIVATION_LABEL = b"mailgate account activation v1"
ACTIVATION_PATH = "/account-activate/"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
SOURCE = "activation"  # the queued message's source
_YES = frozenset({"1", "yes", "y", "true", "on"})
_NO = frozenset({"0", "no", "n", "false", "off"})
_PHONE_CHARACTERS = frozenset("0123456789+-()./ ")


@dataclass(frozen=True)
class Wanted:
    """The account a request asks for, its values checked."""

    login: str
    password: str = field(repr=False)
    first_name: str
    last_name: str
    company: str
    phone: str
    activation: bool
    activation_mail: bool
    sub: bool


def _limit(column: Any) -> int:
    return int(column.type.length)


def _text(call: RestCall, name: str, length: int) -> str:
    """A one-line text parameter ("" when absent); 1511 when it cannot be stored as given."""
    value = call.param(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RestError(NOT_CREATED, f"Account was not created: {name} must be text")
    text = str(value).strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise RestError(NOT_CREATED, f"Account was not created: {name} has a control character")
    if len(text) > length:
        raise RestError(NOT_CREATED, f"Account was not created: {name} is over {length} characters")
    return text


def _choice(call: RestCall, name: str, yes: frozenset[str], no: frozenset[str]) -> bool:
    """An option: True for its `yes` words, False for its `no` words, True when absent."""
    value = call.param(name)
    text = "" if value is None else str(value).strip().lower()
    if text in yes or text == "":
        return True
    if text in no:
        return False
    raise RestError(NOT_CREATED, f"Account was not created: {name} {value!r} is not an option")


def _login(call: RestCall) -> str:
    login = _text(call, "login", _limit(User.__table__.c.email))
    if not login:
        raise RestError(NO_LOGIN, "No email address / login")
    normalized, problem = checked_address(login)
    if normalized is None:
        raise RestError(INCORRECT_LOGIN, f"Incorrect login: {problem}")
    return normalized.lower()


def weak_password(password: str) -> bool:
    return (
        len(password) < MIN_PASSWORD
        or not any(ch.isupper() for ch in password)
        or all(ch.isalnum() or ch.isspace() for ch in password)
    )


def _password(call: RestCall) -> str:
    password = call.param("password")
    if password is None or password == "":
        raise RestError(NO_PASSWORD, "No password")
    if not isinstance(password, str):
        raise RestError(NOT_CREATED, "Account was not created: password must be text")
    if weak_password(password):
        raise RestError(
            WEAK_PASSWORD,
            "Password too weak - must contain 8 characters including one capital letter "
            "and one special character",
        )
    if len(password) > MAX_PASSWORD:
        raise RestError(NOT_CREATED, f"Account was not created: password over {MAX_PASSWORD}")
    return password


def _required(call: RestCall, name: str, column: Any, code: int, message: str) -> str:
    text = _text(call, name, _limit(column))
    if not text:
        raise RestError(code, message)
    return text


def _phone(call: RestCall) -> str:
    phone = _required(call, "phone", User.__table__.c.phone, NO_PHONE, "Telephone number missing")
    if not set(phone) <= _PHONE_CHARACTERS or sum(ch.isdigit() for ch in phone) < 3:
        raise RestError(NO_PHONE, f"Telephone number missing: {phone!r} is not a number")
    return phone


def read_wanted(call: RestCall) -> Wanted:
    """The request's values, checked in the order of the document's codes."""
    columns = User.__table__.c
    login = _login(call)
    password = _password(call)
    first = _required(call, "firstname", columns.first_name, NO_FIRST_NAME, "First name missing")
    last = _required(call, "lastname", columns.last_name, NO_LAST_NAME, "Last name missing")
    phone = _phone(call)
    return Wanted(
        login=login,
        password=password,
        first_name=first,
        last_name=last,
        company=_text(call, "company", _limit(columns.company)),
        phone=phone,
        activation=_choice(call, "activation", _YES, _NO),
        activation_mail=_choice(call, "activation_mail", _YES, _NO),
        sub=_choice(call, "child_account", _YES | {"sub", "child"}, _NO | {"primary"}),
    )


@functools.lru_cache(maxsize=4)
def activation_key(server_key: bytes) -> bytes:
    return derive_key(server_key, ACTIVATION_LABEL)


def activation_url(public_url: str, key: bytes, user: NewUser) -> str:
    token = id_token(key, user.user_id, user.account_hash)
    return public_url.rstrip("/") + ACTIVATION_PATH + token


def _creation_error(reason: str) -> RestError:
    return RestError(CREATION_ERROR, f"An error occurred while creating account: {reason}")


async def activation_sender(call: RestCall, login: str) -> SenderContext:
    """The caller's domain the activation mail will go out from; 1510 when there is none."""
    try:
        return await account_sender(context(call.request).gateway, call.account.user_id, login)
    except NotSent as reason:
        raise _creation_error(f"the activation mail cannot be sent: {reason}") from None


def activation_draft(sender: SenderContext, wanted: Wanted, link: str) -> Draft:
    name = f"{wanted.first_name} {wanted.last_name}"
    plain = (
        f"Hello {name},\r\n\r\nAn account was created for you. To activate it, open this "
        f"link:\r\n\r\n{link}\r\n\r\nIf you did not expect this mail, ignore it.\r\n"
    )
    markup = (
        f"<html><body><p>Hello {html.escape(name)},</p><p>An account was created for you. "
        f'<a href="{html.escape(link)}">Activate your account</a>.</p>'
        f"<p>If you did not expect this mail, ignore it.</p></body></html>"
    )
    return Draft(
        sender=Mailbox(noreply_address(sender)),
        subject="Activate your account",
        to=[Mailbox(wanted.login, name)],
        plain=plain,
        html=markup,
    )


async def send_activation(
    call: RestCall, sender: SenderContext, wanted: Wanted, user: NewUser, link: str
) -> None:
    """Queue the activation mail; when it cannot be, the new account is removed (1510)."""
    gateway: Gateway = context(call.request).gateway
    client = client_host(call.request)
    origin = Origin(helo="api", client_ip=client, protocol="HTTP")
    draft = activation_draft(sender, wanted, link)
    try:
        await send_untracked(gateway, sender, draft, origin, SOURCE)
    except NotSent as reason:
        await remove_unverified_user(call.db, user.user_id)
        raise _creation_error(f"the activation mail cannot be sent: {reason}") from None


async def _create(call: RestCall, wanted: Wanted) -> NewUser:
    try:
        return await create_user(
            call.db,
            wanted.login,
            wanted.password,
            status=UserStatus.UNVERIFIED if wanted.activation else UserStatus.ACTIVE,
            parent_user_id=call.account.user_id if wanted.sub else None,
            first_name=wanted.first_name,
            last_name=wanted.last_name,
            company=wanted.company,
            phone=wanted.phone,
        )
    except AlreadyExists:
        raise RestError(
            NOT_SAVED, "Account was not saved in application: the login was taken meanwhile"
        ) from None
    except DBAPIError as error:
        log.warning("account not created parent=%s error=%s", call.account.user_id, error.orig)
        raise RestError(NOT_CREATED, "Account was not created") from None


@action("account", "create")
async def create(call: RestCall) -> Any:
    if call.account.parent_user_id is not None:
        raise RestError(NO_PERMISSION, "No permission to create account: this is a sub account")
    wanted = read_wanted(call)
    if await email_taken(call.db, wanted.login):
        raise RestError(LOGIN_TAKEN, "Already logged in: an account with this login exists")
    mailed = wanted.activation and wanted.activation_mail
    sender = await activation_sender(call, wanted.login) if mailed else None
    settings = context(call.request).settings
    server_key = settings.conversion_key
    if server_key is None:  # authenticate() needed it already
        raise RuntimeError("no conversion key")
    user = await _create(call, wanted)
    answer = {
        "hash": user.account_hash,
        "api_key": user.rest_api_key,
        "api_secret": user.rest_secret(server_key),
        "gateway_api_key": user.api_key,
    }
    if wanted.activation:
        link = activation_url(settings.public_url, activation_key(server_key), user)
        if sender is not None:
            await send_activation(call, sender, wanted, user, link)
        else:
            answer["activation_url"] = link
    parent = call.account.user_id if wanted.sub else None
    log.info("account created user=%s parent=%s mailed=%s", user.user_id, parent, mailed)
    return answer


async def activate(request: Request) -> Response:
    """`GET /account-activate/{token}`: the account the token names becomes active."""
    token = request.path_params["token"]
    server_key: bytes | None = context(request).settings.conversion_key
    user_id = id_of_token(token)
    state = await account_state(context(request).db, user_id) if user_id is not None else None
    if server_key is None or user_id is None or state is None or state[0] is None:
        return not_found()
    account_hash = state[0]
    if not same_secret(token, id_token(activation_key(server_key), user_id, account_hash)):
        return not_found()
    if await activate_user(context(request).db, user_id, account_hash):
        return page("Account activated", "Your account is active.")
    now = await account_state(context(request).db, user_id)
    if now is not None and now[1] is UserStatus.ACTIVE:
        return page("Account activated", "Your account is active already.")
    return page("Account not activated", "This account can no longer be activated.", status=410)
