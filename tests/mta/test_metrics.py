"""mta/metrics.py on its own: `refused` moves exactly one series of the refusal counter by one,
labelled with the stage, the reply's enhanced code (or its three-digit code) and the reason,
so that the label values stay a small closed set whatever a reply's text says; the counters
are registered under the names and labels /metrics is read by."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from mta import metrics
from mta.replies import Reason

REFUSALS = "mailgate_smtp_refusals_total"


def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the gateway's metrics now, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in REGISTRY.collect()
        if family.name.startswith("mailgate_")
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def moved(before: dict, after: dict) -> dict:
    """The samples that changed, by how much."""
    return {
        key: value - before.get(key, 0.0)
        for key, value in after.items()
        if value != before.get(key, 0.0)
    }


# (stage, reply, reason, the code label)
REFUSED = [
    pytest.param("mail", "552 5.3.4 Message size exceeds fixed limit", Reason.SIZE, "5.3.4",
                 id="enhanced-code"),
    pytest.param("rcpt", "550-5.1.1 <x@y.test>: user unknown", Reason.OTHER, "5.1.1",
                 id="multiline-reply"),
    pytest.param("connect", "421 Too many connections", Reason.OTHER, "421",
                 id="no-enhanced-code"),
    pytest.param("data", "451 4.3.0 Try again later (ref 5.1.1)", Reason.OTHER, "4.3.0",
                 id="first-code-counts"),
    pytest.param("rcpt", "550 5.7.1 <a@10.1.2.3>: relay denied for 2.0.0.1", Reason.OTHER,
                 "5.7.1", id="addresses-in-the-text"),
    pytest.param("auth", "535", Reason.OTHER, "535", id="bare-code"),
]  # fmt: skip


@pytest.mark.parametrize(("stage", "reply", "reason", "code"), REFUSED)
def test_a_refusal_moves_one_series_by_one(
    stage: str, reply: str, reason: Reason, code: str
) -> None:
    before = samples()
    metrics.refused(stage, reply, reason)
    labels = (("code", code), ("reason", str(reason)), ("stage", stage))
    assert moved(before, samples()) == {(REFUSALS, labels): 1.0}


@pytest.mark.parametrize("text", ["4.4.4.4", "5.6.7.8", "2.9.9.9"])
def test_text_in_a_reply_without_a_code_of_its_own_makes_no_label(text: str) -> None:
    before = samples()
    metrics.refused("helo", f"550 Client host {text} blocked", Reason.OTHER)
    labels = (("code", "550"), ("reason", "other"), ("stage", "helo"))
    assert moved(before, samples()) == {(REFUSALS, labels): 1.0}


@pytest.mark.parametrize(
    ("counter", "name", "labels"),
    [
        (metrics.SMTP_SESSIONS, "mailgate_smtp_sessions", ("role",)),
        (metrics.SMTP_ACCEPTED, "mailgate_smtp_messages_accepted", ("direction",)),
        (metrics.SMTP_REFUSED, "mailgate_smtp_refusals", ("stage", "code", "reason")),
        (metrics.SMTP_AUTH_FAILURES, "mailgate_smtp_auth_failures", ()),
        (metrics.DELIVERY_OUTCOMES, "mailgate_delivery_outcomes", ("status",)),
        (metrics.WEBHOOK_CALLS, "mailgate_webhook_calls", ("result",)),
        (metrics.HTTP_REQUESTS, "mailgate_http_requests", ("route", "status")),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_counter_counts_under_its_name_and_labels(
    counter: metrics.Counter, name: str, labels: tuple[str, ...]
) -> None:
    values = {label: f"test-{label}" for label in labels}
    before = samples()
    (counter.labels(**values) if labels else counter).inc()
    assert moved(before, samples()) == {(f"{name}_total", tuple(sorted(values.items()))): 1.0}


def test_delivery_latency_lands_in_its_buckets() -> None:
    name = "mailgate_delivery_latency_seconds"
    before = samples()
    metrics.DELIVERY_LATENCY.observe(3.0)
    changed = moved(before, samples())
    buckets = {dict(labels)["le"] for (sample, labels), _ in changed.items() if "bucket" in sample}
    # 3 s counts in every bucket from 5 s up, and not in 0.1, 0.5 or 1.
    assert buckets == {"5.0", "15.0", "60.0", "300.0", "900.0", "3600.0", "14400.0", "86400.0",
                       "+Inf"}  # fmt: skip
    assert changed[(f"{name}_count", ())] == 1.0
    assert changed[(f"{name}_sum", ())] == pytest.approx(3.0)  # a difference of two float sums
