"""Domain name validation: what a user may register as a sender domain."""

from __future__ import annotations

import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidDomain(ValueError):
    """Not a registrable host name."""


def normalize_domain(name: str) -> str:
    """Lower-case ASCII (IDNA) form of `name`; raises InvalidDomain when it is not a host name."""
    # dnspython is imported here, not above: every `mailgate` command imports this module (for
    # dns_label), and most never normalise a name; the import costs them 0.1 s of CPU.
    import dns.exception
    import dns.name

    text = name.strip().rstrip(".").lower()
    try:
        # IDNA 2008 with UTS 46 mapping, as mail and browsers use it (`straße` stays `ß`;
        # Python's own "idna" codec is IDNA 2003, which would turn it into `strasse`).
        encoded = dns.name.from_unicode(text, idna_codec=dns.name.IDNA_2008_Practical)
        ascii_name = encoded.to_text(omit_final_dot=True).lower()
    except (UnicodeError, ValueError, dns.exception.DNSException):
        raise InvalidDomain(f"invalid domain name: {name!r}") from None
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253 or not all(_LABEL.match(x) for x in labels):
        raise InvalidDomain(f"invalid domain name: {name!r}")
    if labels[-1].isdigit():
        raise InvalidDomain(f"invalid domain name: {name!r}")
    return ascii_name


_SUBDOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,32}(?<!-)")


def dns_label(value: object) -> str:
    """One lower-case DNS label, as a subdomain of a sender domain (`bounces`, `links`): ASCII
    letters, digits and inner hyphens, at most 32 characters; raises ValueError otherwise."""
    text = str(value).strip().lower()
    if not _SUBDOMAIN_LABEL.fullmatch(text):
        raise ValueError("expected ASCII letters, digits and inner hyphens, at most 32 characters")
    return text
