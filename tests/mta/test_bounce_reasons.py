"""Bounce reasons (Sisimai's vocabulary) from real-looking replies of several providers and MTAs,
and the generic or misused codes whose words decide."""

from __future__ import annotations

import pytest

from mta.feedback.reasons import BAD_ADDRESS, Reason, is_bad_address, reason_of

R = Reason
# (enhanced code, reply code, diagnostic, reason): the reply as a bounce or a client reports it.
REPLIES: list[tuple[str | None, int | None, str, Reason]] = [
    # userunknown
    ("5.1.1", 550, "5.1.1 The email account that you tried to reach does not exist.",
     R.USERUNKNOWN),
    ("5.1.1", 550, "5.1.1 <a@b.example>: Recipient address rejected: User unknown", R.USERUNKNOWN),
    ("5.1.10", 550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", R.USERUNKNOWN),
    ("5.4.1", 550, "5.4.1 Recipient address rejected: Access denied. AS(201806281)", R.USERUNKNOWN),
    ("5.2.1", 550, "5.2.1 <a@b.example>... User Unknown", R.USERUNKNOWN),  # misused 5.2.1
    ("5.0.0", 550, "<a@b.example>: User unknown", R.USERUNKNOWN),
    (None, 554, "delivery error: dd This user doesn't have a yahoo.com account", R.USERUNKNOWN),
    (None, None, "Sorry, no mailbox here by that name. (#5.1.1)", R.USERUNKNOWN),
    ("5.1.1", 550, "5.1.1 unknown or illegal alias: a@b.example", R.USERUNKNOWN),
    (None, 550, "Requested action not taken: mailbox unavailable", R.USERUNKNOWN),
    ("5.5.0", 550, "5.5.0 Adresse destinataire invalide. Invalid recipient.", R.USERUNKNOWN),
    ("4.1.1", 450, "4.1.1 <a@b.example>: Recipient address rejected: unverified", R.USERUNKNOWN),
    (None, 554, "delivery error: dd Not a valid recipient - atlas110.free.mail.bf1.yahoo.com",
     R.USERUNKNOWN),
    (None, 550, "550 Address unknown", R.USERUNKNOWN),
    ("5.1.1", None, "", R.USERUNKNOWN),  # the code alone
    (None, 550, "Requested action not taken: bad destination mailbox address", R.USERUNKNOWN),
    # Postfix's "Recipient address rejected:" prefixes any restriction: what follows decides.
    ("5.2.2", 552, "<a@b.example>: Recipient address rejected: Mailbox full", R.MAILBOXFULL),
    ("5.1.2", 550, "<a@b.example>: Recipient address rejected: Bad destination system address",
     R.HOSTUNKNOWN),
    # hostunknown
    ("5.1.2", None, "Sorry, I couldn't find any host named b.example. (#5.1.2)", R.HOSTUNKNOWN),
    ("5.4.4", 550, "5.4.4 Invalid domain", R.HOSTUNKNOWN),
    (None, None, "Host or domain name not found. Name service error for name=b.example type=A",
     R.HOSTUNKNOWN),
    (None, 553, "b.example does not exist", R.HOSTUNKNOWN),
    ("5.1.2", 550, "5.1.2 Domain b.example does not exist (NXDOMAIN)", R.HOSTUNKNOWN),
    ("5.1.2", None, "", R.HOSTUNKNOWN),
    # hasmoved
    ("5.1.6", 550, "5.1.6 recipient no longer on server: a@me.com", R.HASMOVED),
    (None, 551, "551 User not local; please try <a@c.example>", R.HASMOVED),
    (None, 551, "", R.HASMOVED),
    # notaccept
    ("5.1.10", 556, "5.1.10 b.example does not accept mail (null MX)", R.NOTACCEPT),
    (None, None, "an MX or SRV record indicated no SMTP service", R.NOTACCEPT),
    (None, None, "No mx record found for domain=b.example", R.NOTACCEPT),
    ("5.4.4", None, "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)",
     R.NOTACCEPT),
    # mailboxfull
    ("5.2.2", 552, "5.2.2 The email account that you tried to reach is over quota.",
     R.MAILBOXFULL),
    ("4.2.2", 452, "4.2.2 The recipient's inbox is out of storage space.", R.MAILBOXFULL),
    ("5.2.2", 552, "5.2.2 <a@icloud.com>: user is over quota", R.MAILBOXFULL),
    (None, None, "The user's mailfolder is full.", R.MAILBOXFULL),
    ("5.2.2", 552, "5.2.2 <a@b.example>: Recipient address rejected: Mailbox full",
     R.MAILBOXFULL),
    ("4.3.0", None, "Quota exceeded message delivery failed to /var/mail/a", R.MAILBOXFULL),
    # suspend
    ("5.2.1", 550, "5.2.1 The email account that you tried to reach is disabled.", R.SUSPEND),
    (None, 554, "This account has been disabled or discontinued [#102].", R.SUSPEND),
    (None, 550, "Mailbox is frozen.", R.SUSPEND),
    ("5.5.0", 550, "5.5.0 The recipient account is blocked.", R.SUSPEND),
    ("5.7.13", None, "", R.SUSPEND),
    # filtered
    ("5.2.0", 550, "5.2.0 Message Filtered", R.FILTERED),
    ("5.1.1", 550, "5.1.1 RCP-P2 Refused due to recipient preferences", R.FILTERED),
    # blocked
    ("5.7.1", 554, "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
     "zen.spamhaus.org", R.BLOCKED),
    ("5.7.606", 550, "5.7.606 Access denied, banned sending IP [192.0.2.1]", R.BLOCKED),
    (None, 554, "Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", R.BLOCKED),
    ("5.7.1", 550, "5.7.1 IP address blacklisted by recipient", R.BLOCKED),
    ("5.7.1", 554, "5.7.1 Client host rejected: cannot find your hostname", R.REQUIREPTR),
    # badreputation, requireptr
    ("5.7.1", 550, "5.7.1 this message is likely suspicious due to the very low reputation "
     "of the sending IP address", R.BADREPUTATION),
    ("4.7.650", 451, "4.7.650 The mail server has been temporarily rate limited due to IP "
     "reputation.", R.BADREPUTATION),
    ("5.7.25", 550, "5.7.25 The IP address sending this message does not have a PTR record "
     "setup", R.REQUIREPTR),
    (None, 550, "This system will not accept messages from servers with no reverse DNS.",
     R.REQUIREPTR),
    # spamdetected, virusdetected
    ("5.7.1", 550, "5.7.1 Message rejected as spam by Content Filtering.", R.SPAMDETECTED),
    ("5.7.0", 554, "5.7.0 Reject, id=20025-09 - SPAM", R.SPAMDETECTED),
    ("5.7.1", 550, "5.7.1 Message content rejected, UBE, id=00000-22-225", R.SPAMDETECTED),
    ("5.7.1", 554, "5.7.1 The message was rejected because it contains a virus", R.VIRUSDETECTED),
    (None, 550, "Virus Detected; Content Rejected", R.VIRUSDETECTED),
    # policyviolation
    ("5.7.9", 554, "5.7.9 Message not accepted for policy reasons.", R.POLICYVIOLATION),
    (None, 550, "Denied by policy", R.POLICYVIOLATION),
    (None, 554, "Host network not allowed", R.POLICYVIOLATION),
    # authfailure
    ("5.7.26", 550, "5.7.26 Unauthenticated email from b.example is not accepted due to "
     "domain's DMARC policy.", R.AUTHFAILURE),
    ("5.7.26", 550, "550-5.7.26 The MAIL FROM domain [b.example] has an SPF record with a "
     "550-5.7.26 hard fail policy (-all) but it fails to pass SPF checks", R.AUTHFAILURE),
    ("5.7.1", 550, "5.7.1 Email rejected per DMARC policy for b.example", R.AUTHFAILURE),
    ("5.7.23", None, "", R.AUTHFAILURE),
    # rejected (the sender), norelaying, securityerror
    ("5.1.8", 501, "5.1.8 Sender address rejected", R.REJECTED),
    ("5.1.8", 553, "5.1.8 <root@host.local>... Domain of sender address root@host.local does "
     "not exist", R.REJECTED),
    (None, 550, "Sender verify failed", R.REJECTED),
    ("5.7.1", 554, "5.7.1 <a@b.example>: Relay access denied", R.NORELAYING),
    (None, 550, "Unable to relay for a@b.example; relaying denied", R.NORELAYING),
    ("5.7.0", 530, "5.7.0 Must issue a STARTTLS command first", R.SECURITYERROR),
    # toomanyconn, sizes, content
    ("4.3.2", 452, "4.3.2 Connection rate limit exceeded.", R.TOOMANYCONN),
    ("4.7.0", 421, "4.7.0 Too many concurrent SMTP connections from this IP", R.TOOMANYCONN),
    (None, 552, "Too many recipients", R.TOOMANYCONN),
    ("5.3.4", 552, "5.3.4 Message size exceeds fixed limit", R.MESGTOOBIG),
    ("5.2.3", 550, "5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient",
     R.MESGTOOBIG),
    ("5.2.3", None, "", R.EXCEEDLIMIT),
    (None, 554, "Transaction failed: Duplicate header 'DKIM-Signature'.", R.CONTENTERROR),
    ("5.6.0", 552, "5.6.0 Headers too large (3 max)", R.CONTENTERROR),
    ("5.7.1", 550, "550-5.7.1 Messages with multiple 550-5.7.1 addresses in From: header are "
     "not accepted.", R.NOTCOMPLIANTRFC),
    ("5.7.1", 550, "5.7.1 This message is not RFC 5322 compliant.", R.NOTCOMPLIANTRFC),
    # expired, networkerror
    ("4.4.7", 550, "4.4.7 QUEUE.Expired; message expired", R.EXPIRED),
    (None, None, "Unable to deliver message after multiple retries, giving up.", R.EXPIRED),
    ("4.4.7", None, "", R.EXPIRED),
    ("4.4.1", None, "connect to b.example[192.0.2.1]:25: Connection timed out", R.NETWORKERROR),
    ("4.4.2", None, "lost connection with mx.b.example while performing the HELO handshake",
     R.NETWORKERROR),
    (None, None, "Name service error for domain b.example: Host not found, try again",
     R.NETWORKERROR),  # a DNS failure said to pass is no unknown host
    ("4.0.0", None, "DNS Error: DNS type 'mx' lookup of b.example responded with code NXDOMAIN "
     "Domain name not found: b.example", R.NETWORKERROR),
    ("5.4.6", 554, "5.4.6 Too many hops", R.NETWORKERROR),
    # systemerror, mailererror, syntaxerror
    (None, 554, "Service currently unavailable", R.SYSTEMERROR),
    ("4.4.3", None, "Unable to contact LDAP server. (#4.4.3)", R.SYSTEMERROR),
    ("4.3.1", 452, "4.3.1 Insufficient system storage", R.SYSTEMFULL),
    (None, None, "pipe to |/usr/local/bin/filter generated by a@b.example", R.MAILERERROR),
    (None, 503, "503 Improper sequence of commands", R.SYNTAXERROR),
    ("5.5.2", 500, "", R.SYNTAXERROR),
]  # fmt: skip


@pytest.mark.parametrize(("enhanced", "reply", "diagnostic", "reason"), REPLIES)
def test_reason(enhanced: str | None, reply: int | None, diagnostic: str, reason: Reason) -> None:
    assert reason_of(enhanced, reply, diagnostic) == reason


# Generic codes, which many servers answer for unknown users, spam and policy alike: the words
# decide, and without words there is no reason to tell.
GENERIC: list[tuple[str | None, int | None, str, Reason]] = [
    ("5.0.0", 550, "<a@b.example>: Recipient address rejected: On hold", R.UNDEFINED),
    ("5.7.1", 550, "5.7.1 <a@b.example>: Recipient address rejected: User unknown", R.USERUNKNOWN),
    ("5.7.1", 550, "5.7.1 Message rejected as spam", R.SPAMDETECTED),
    ("5.7.1", 550, "5.7.1 Delivery not authorized, message refused: policy", R.POLICYVIOLATION),
    ("5.0.0", 550, "Unknown user a@b.example", R.USERUNKNOWN),
    ("5.0.0", 550, "DMARC check failed.", R.AUTHFAILURE),
    ("5.0.0", 554, "Message not allowed", R.POLICYVIOLATION),
    ("5.5.0", 554, "The mail could not be delivered because the domain is not reachable.",
     R.HOSTUNKNOWN),
    ("5.7.1", 550, "", R.UNDEFINED),
    ("5.7.0", 550, "5.7.0 Rejected", R.UNDEFINED),
    ("5.0.0", 550, "Rejected", R.UNDEFINED),
    ("4.0.0", 450, "4.0.0 Temporary failure", R.UNDEFINED),
    (None, None, "", R.UNDEFINED),
    ("5.1.351", 550, "", R.UNDEFINED),  # a detail RFC 3463 does not name
]  # fmt: skip


@pytest.mark.parametrize(("enhanced", "reply", "diagnostic", "reason"), GENERIC)
def test_generic_codes_leave_it_to_the_words(
    enhanced: str | None, reply: int | None, diagnostic: str, reason: Reason
) -> None:
    assert reason_of(enhanced, reply, diagnostic) == reason


def test_an_unknown_user_after_data_is_a_filter() -> None:
    """The server accepted the recipient at RCPT and refused the message after DATA."""
    reply = "550 Unknown user a@b.example"
    assert reason_of("5.0.0", 550, reply, command="DATA") == R.FILTERED
    assert reason_of("5.0.0", 550, reply, command="RCPT") == R.USERUNKNOWN
    assert reason_of("5.0.0", 550, "550 Message rejected as spam", command="DATA") == (
        R.SPAMDETECTED
    )


def test_only_the_four_address_reasons_are_bad_addresses() -> None:
    bad = {reason for reason in Reason if is_bad_address(reason)}
    assert bad == BAD_ADDRESS == {R.USERUNKNOWN, R.HOSTUNKNOWN, R.HASMOVED, R.NOTACCEPT}
    assert not is_bad_address(R.MAILBOXFULL)
    assert not is_bad_address(R.UNDEFINED)


def test_every_reason_but_undefined_has_a_reply() -> None:
    assert {case[3] for case in REPLIES} == set(Reason) - {R.UNDEFINED}
