"""The look of the pages people open from a mail (unsubscribe, subscription and account
activation), and their 404: one place below the routes that show them (http_api/tracking.py,
http_api/subscriber_activation.py, /rest's account activation), which do not import each
other. Never cached: each page's answer depends on a token and the state it changes."""

from __future__ import annotations

from starlette.responses import HTMLResponse, PlainTextResponse, Response

NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto; padding: 0 1em">
<h1 style="font-size: 1.4em">{title}</h1>
<p>{text}</p>
{form}
</body></html>
"""


def page(title: str, text: str, form: str = "", status: int = 200) -> Response:
    """A short page; `text` and `form` are HTML, escaped by the caller."""
    body = _PAGE.format(title=title, text=text, form=form)
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


def not_found() -> Response:
    """A token that is not ours, or was altered: nothing to show, nothing recorded."""
    return PlainTextResponse("Not Found", status_code=404, headers=NO_STORE)
