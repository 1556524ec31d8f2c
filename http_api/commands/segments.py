"""`Segment.Create`, `Segment.Update`, `Segment.Get`, `Segment.Delete`: saved audiences inside one
list, which `RecipientListsAndSegments` names as ListID:SegmentID. SegmentRulesJson is a
RulesJson criteria object ({"operator", "rules"}, or the rules alone, as JSON text or JSON);
SegmentOperator ("and" or "or") overrides the criteria's operator.

Codes in the style of the other commands: 1 a required parameter missing (SegmentName and
SegmentListID to create; SegmentID otherwise), 2 no such list or segment of the user, 3 criteria
that are malformed or name fields the list does not have (or a name over 255 characters), and
for Segment.Delete 3 while a campaign that may still send targets or excludes it.
Segment.Update takes SegmentListID only as the segment's own list: a segment stays in its list
(campaigns name it as ListID:SegmentID), so another of the user's lists is 3, and a list that
is not the user's is 2, like Segment.Create's."""

from __future__ import annotations

from typing import Any

from http_api.api_php import Call, Refused, command, failed, id_param
from http_api.formats import utc_text
from storage import segments
from storage.campaigns.audience import AudienceError


def segment_view(segment: segments.SegmentView) -> dict[str, Any]:
    return {
        "SegmentID": segment.id,
        "SegmentHash": segment.hash,
        "SegmentName": segment.name,
        "SegmentListID": segment.list_id,
        "SegmentOperator": segment.rules.get("operator", "and"),
        "SegmentRulesJson": segment.rules,
        "CreateDateTime": utc_text(segment.created_at),
    }


def _name(call: Call) -> str | None:
    name = call.get("SegmentName")
    if name is not None and len(str(name).strip()) > segments.NAME_LIMIT:
        raise Refused(failed(3, f"SegmentName is longer than {segments.NAME_LIMIT} characters"))
    return None if name is None else str(name).strip()


async def _criteria(call: Call, user_id: int, list_id: int, rules: Any) -> dict[str, Any]:
    try:
        return await segments.checked_segment_criteria(
            call.db, user_id, list_id, call.get("SegmentOperator"), rules
        )
    except AudienceError as error:
        raise Refused(failed(3, f"Invalid SegmentRulesJson: {error}")) from None


LIST_NOT_FOUND = "List not found or does not belong to the user"


@command("segment.create")
async def create(call: Call) -> dict[str, Any]:
    """1: no SegmentName or SegmentListID; 2: not a list of the user; 3: invalid criteria."""
    assert call.caller is not None
    user_id = call.caller.user_id
    name, list_key = _name(call), call.get("SegmentListID")
    if name is None or list_key is None:
        return failed(1, "Missing required parameter: SegmentName and SegmentListID")
    list_id = await segments.owned_list_id(call.db, user_id, list_key)
    if list_id is None:
        return failed(2, LIST_NOT_FOUND)
    criteria = await _criteria(call, user_id, list_id, call.get("SegmentRulesJson") or [])
    made = await segments.create_segment(call.db, user_id, list_id, name, criteria)
    return {"Success": True, "ErrorCode": 0, "SegmentID": made.id, "SegmentHash": made.hash}


def _segment_id(call: Call) -> int:
    return id_param(call, "SegmentID", failed(1, "Missing required parameter: SegmentID"))


NOT_FOUND = "Segment not found or does not belong to the user"


async def _check_same_list(call: Call, user_id: int, found: segments.SegmentView) -> None:
    """A SegmentListID given to Segment.Update names the segment's own list (by id or hash)."""
    list_key = call.get("SegmentListID")
    if list_key is None:
        return
    list_id = await segments.owned_list_id(call.db, user_id, list_key)
    if list_id is None:
        raise Refused(failed(2, LIST_NOT_FOUND))
    if list_id != found.list_id:
        raise Refused(failed(3, "A segment stays in its list: SegmentListID must be its own"))


@command("segment.update")
async def update(call: Call) -> dict[str, Any]:
    """1: no SegmentID; 2: no such segment of the user; 3: invalid criteria or name. Without
    SegmentRulesJson, SegmentOperator changes the stored criteria's operator."""
    assert call.caller is not None
    user_id = call.caller.user_id
    found = await segments.get_segment(call.db, user_id, _segment_id(call))
    if found is None:
        return failed(2, NOT_FOUND)
    await _check_same_list(call, user_id, found)
    name = _name(call)
    rules = call.get("SegmentRulesJson")
    criteria = None
    if rules is not None or call.get("SegmentOperator") is not None:
        given = rules if rules is not None else found.rules
        criteria = await _criteria(call, user_id, found.list_id, given)
    await segments.update_segment(call.db, user_id, found.id, name or None, criteria)
    return {"Success": True, "ErrorCode": 0}


@command("segment.get")
async def get(call: Call) -> dict[str, Any]:
    """1: no SegmentID; 2: no such segment of the user."""
    assert call.caller is not None
    found = await segments.get_segment(call.db, call.caller.user_id, _segment_id(call))
    if found is None:
        return failed(2, NOT_FOUND)
    return {"Success": True, "ErrorCode": 0, "Segment": segment_view(found)}


@command("segment.delete")
async def delete(call: Call) -> dict[str, Any]:
    """1: no SegmentID; 2: no such segment of the user; 3: a campaign still uses it."""
    assert call.caller is not None
    try:
        deleted = await segments.delete_segment(call.db, call.caller.user_id, _segment_id(call))
    except segments.SegmentInUse:
        return failed(3, "The segment is used by a campaign")
    if not deleted:
        return failed(2, NOT_FOUND)
    return {"Success": True, "ErrorCode": 0}
