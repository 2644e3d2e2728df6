"""The delivery plan (one row per delivery: channel, mode, dates, confirmation, size and
audience) and the two small tables drawn from it: deliveries and operators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from sendlens.sample.hashing import SCHEMAS, _take, _ts, _us
from sendlens.sample.routes import (
    CHANNEL_SHARES, CHANNELS, CONFIRMATION_SHARE, CONFIRMERS, CONTACT_SPAN_DAYS, DAY, EFS_SHARE,
    EMAIL, MESSAGES_PER_EXECUTION, MIN_EXECUTIONS, MINUTE, NON_CONFIRMERS, OPERATORS,
    PROFILES_PER_MESSAGE, PROOFS, PUSH, RECURRING_EVERY, RECURRING_THEMES, SEC, SMS,
    TEST_PROFILE_SHARE, TEST_PROFILES, THEMES, WRONG_CONFIRMER_SHARE,
)


@dataclass
class Plan:
    ids: list[str]
    label: list[str]
    channel: np.ndarray  # int8
    efs: np.ndarray
    contact: np.ndarray  # int64 us
    validity: np.ndarray  # float64 hours
    is_proof: np.ndarray
    parent: list[str | None]
    requires_confirmation: np.ndarray
    scheduled: np.ndarray  # int64 us, -1 = null
    confirmed: np.ndarray  # int64 us, -1 = null
    confirmed_by: list[str | None]
    size: np.ndarray  # messages per delivery
    first: np.ndarray  # global index of the delivery's first message
    n_test: np.ndarray  # leading messages addressed to test profiles
    profile_offset: np.ndarray
    spacing: np.ndarray  # us between consecutive relays
    n_excluded: np.ndarray
    profiles: int  # regular profile pool size
    start: int  # us


def _split_sizes(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer sizes >= 1 summing to ``total``, proportional to ``weights`` (largest remainder)."""
    n = len(weights)
    extra = total - n
    raw = weights / weights.sum() * extra
    sizes = np.floor(raw).astype(np.int64)
    rest = extra - int(sizes.sum())
    if rest:
        sizes[np.argsort(-(raw - sizes), kind="stable")[:rest]] += 1
    return sizes + 1


def plan_deliveries(messages: int, seed: int, start: datetime) -> Plan:
    """Choose every delivery: channel, mode, dates, confirmation, size and audience."""
    rng = np.random.default_rng(seed)
    start_us = _us(start)

    n_proofs = PROOFS if messages >= 60 else 0
    proof_sizes = rng.integers(2, 6, size=n_proofs)
    rest = messages - int(proof_sizes.sum())
    n_exec = int(min(rest, max(MIN_EXECUTIONS, round(rest / MESSAGES_PER_EXECUTION))))

    # Recurring groups of child executions (email), the rest are one-shot deliveries.
    n_groups = int(n_exec >= 8) + n_exec // RECURRING_EVERY
    children = [int(rng.integers(3, 6)) for _ in range(n_groups)]
    n_single = n_exec - sum(children)

    # Channels of the one-shot deliveries: exact counts so that executions mix 85/10/5.
    n_sms = max(1, round(CHANNEL_SHARES[1] * n_exec)) if n_single >= 3 else 0
    n_push = max(1, round(CHANNEL_SHARES[2] * n_exec)) if n_single >= 3 else 0
    single_channel = np.array([SMS] * n_sms + [PUSH] * n_push + [EMAIL] * (n_single - n_sms - n_push),
                              dtype=np.int8)
    rng.shuffle(single_channel)
    email_singles = np.flatnonzero(single_channel == EMAIL)
    n_efs = min(len(email_singles), max(1, round(EFS_SHARE * n_exec))) if len(email_singles) else 0
    single_efs = np.zeros(n_single, dtype=bool)
    single_efs[rng.choice(email_singles, size=n_efs, replace=False)] = True

    rows: list[dict] = []  # one dict per delivery, sorted by contact date later

    def daytime(day: int) -> int:
        return start_us + day * DAY + int(rng.integers(0, 12 * 60)) * MINUTE

    weights = rng.lognormal(0.0, 0.75, size=n_exec)
    w_iter = iter(weights)
    for i in range(n_single):
        ch = int(single_channel[i])
        validity = 84.0
        if ch == EMAIL and rng.random() < 0.2:
            validity = 120.0
        elif ch == SMS:
            validity = float(rng.choice([24.0, 48.0]))
        contact = daytime(int(rng.integers(0, CONTACT_SPAN_DAYS)))
        theme = THEMES[ch][int(rng.integers(0, len(THEMES[ch])))]
        rows.append(dict(kind="single", label=theme, channel=ch, efs=bool(single_efs[i]),
                         contact=contact, validity=validity, weight=next(w_iter), parent=None))
    email_validity = [r for r in rows if r["channel"] == EMAIL]
    if email_validity and all(r["validity"] == 84.0 for r in email_validity):
        email_validity[-1]["validity"] = 120.0  # always show the 84 h cap at work
    for g, n_children in enumerate(children):
        theme = RECURRING_THEMES[g % len(RECURRING_THEMES)]
        efs = bool(rng.random() < EFS_SHARE) if g else False
        contact0 = start_us + int(rng.integers(0, 2)) * DAY + int(rng.integers(0, 90)) * MINUTE
        base_w = next(w_iter)
        rows.append(dict(kind="parent", label=f"{theme} (recurring)", channel=EMAIL, efs=efs,
                         contact=contact0, validity=84.0, weight=0.0, parent=None, group=g))
        for k in range(n_children):
            w = base_w * rng.uniform(0.9, 1.1)  # the same audience every day, give or take
            rows.append(dict(kind="child", label=f"{theme} #{k + 1}", channel=EMAIL, efs=efs,
                             contact=contact0 + k * DAY, validity=84.0, weight=w, parent=g))
    single_rows = [r for r in rows if r["kind"] == "single"]
    email_single_rows = [r for r in single_rows if r["channel"] == EMAIL]
    for p in range(n_proofs):
        target = email_single_rows[p % len(email_single_rows)] if email_single_rows else None
        contact = (target["contact"] if target else start_us) - int(rng.integers(60, 180)) * MINUTE
        label = f"[PROOF #{p + 1}] {target['label'] if target else 'Test send'}"
        rows.append(dict(kind="proof", label=label, channel=EMAIL, efs=False, contact=contact,
                         validity=84.0, weight=0.0, parent=None, size=int(proof_sizes[p])))

    # Confirmation: singles mostly require it; parents do; children and proofs do not.
    n_wrong = max(1, round(WRONG_CONFIRMER_SHARE * n_single)) if n_single >= 4 else 0
    n_unconfirmed = (2 if n_single >= 40 else 1) if n_single >= 4 else 0
    flagged = rng.permutation(n_single)
    wrong = set(flagged[:n_wrong].tolist())
    unconfirmed = set(flagged[n_wrong:n_wrong + n_unconfirmed].tolist())
    for i, r in enumerate(single_rows):
        needs = i in wrong or i in unconfirmed or rng.random() < CONFIRMATION_SHARE
        r["requires_confirmation"] = needs
        r["scheduled"] = r["contact"] - (int(rng.integers(1, 20)) * MINUTE if rng.random() < 0.3 else 0)
        if needs and i not in unconfirmed:
            r["confirmed"] = r["scheduled"] - int(rng.integers(10 * 60, 20 * 3600)) * SEC
            pool = NON_CONFIRMERS if i in wrong else CONFIRMERS
            r["confirmed_by"] = pool[int(rng.integers(0, len(pool)))]
    for r in rows:
        if r["kind"] == "parent":
            r["requires_confirmation"] = True
            r["scheduled"] = r["contact"]
            r["confirmed"] = r["contact"] - int(rng.integers(3600, 48 * 3600)) * SEC
            r["confirmed_by"] = CONFIRMERS[int(rng.integers(0, len(CONFIRMERS)))]
        elif r["kind"] in ("child", "proof"):
            r["requires_confirmation"] = False
            r["scheduled"] = r["contact"] if r["kind"] == "child" else -1

    # Order by contact date (ids grow with time; a parent precedes its children).
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["contact"], {"parent": 0}.get(rows[i]["kind"], 1), i))
    rows = [rows[i] for i in order]
    ids = [f"DM{i + 1:06d}" for i in range(len(rows))]
    group_id = {r["group"]: ids[i] for i, r in enumerate(rows) if r["kind"] == "parent"}

    exec_rows = [r for r in rows if r["kind"] in ("single", "child")]
    sizes = _split_sizes(rest, np.array([r["weight"] for r in exec_rows], dtype=np.float64))
    for r, s in zip(exec_rows, sizes):
        r["size"] = int(s)
    size = np.array([r.get("size", 0) for r in rows], dtype=np.int64)
    if len(size):
        assert int(size.sum()) == messages
    first = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64) if len(size) else size
    is_proof = np.array([r["kind"] == "proof" for r in rows], dtype=bool)
    is_exec = np.array([r["kind"] in ("single", "child") for r in rows], dtype=bool)
    n_test = np.where(is_proof, size, np.minimum(TEST_PROFILES, np.round(size * TEST_PROFILE_SHARE)))
    n_test = np.where(is_exec | is_proof, n_test, 0).astype(np.int64)
    n_excluded = np.where(is_exec, np.maximum(1, np.round((size - n_test) * rng.uniform(0.005, 0.025, len(rows)))), 0)
    n_excluded = np.minimum(n_excluded, np.maximum(size - n_test, 0)).astype(np.int64)
    regular = size - n_test
    profiles = max(int(messages * PROFILES_PER_MESSAGE), int((regular + n_excluded).max(initial=0)) + 1, 16)
    return Plan(
        ids=ids,
        label=[r["label"] for r in rows],
        channel=np.array([r["channel"] for r in rows], dtype=np.int8),
        efs=np.array([r["efs"] for r in rows], dtype=bool),
        contact=np.array([r["contact"] for r in rows], dtype=np.int64),
        validity=np.array([r["validity"] for r in rows], dtype=np.float64),
        is_proof=is_proof,
        parent=[group_id[r["parent"]] if r["kind"] == "child" else None for r in rows],
        requires_confirmation=np.array([r["requires_confirmation"] for r in rows], dtype=bool),
        scheduled=np.array([r.get("scheduled", -1) for r in rows], dtype=np.int64),
        confirmed=np.array([r.get("confirmed", -1) for r in rows], dtype=np.int64),
        confirmed_by=[r.get("confirmed_by") for r in rows],
        size=size,
        first=first,
        n_test=n_test,
        profile_offset=rng.integers(0, profiles, size=len(rows)),
        spacing=(SEC / rng.uniform(50, 300, size=len(rows))).astype(np.int64),
        n_excluded=n_excluded,
        profiles=profiles,
        start=start_us,
    )


def deliveries_table(plan: Plan) -> pa.Table:
    sched, conf = plan.scheduled, plan.confirmed
    return pa.table(
        {
            "delivery_id": pa.array(plan.ids, pa.string()),
            "label": pa.array(plan.label, pa.string()),
            "channel": _take(CHANNELS, plan.channel),
            "efs_enabled": pa.array(plan.efs),
            "contact_date": _ts(plan.contact),
            "validity_hours": pa.array(plan.validity),
            "is_proof": pa.array(plan.is_proof),
            "parent_delivery_id": pa.array(plan.parent, pa.string()),
            "requires_confirmation": pa.array(plan.requires_confirmation),
            "scheduled_at": _ts(np.maximum(sched, 0), sched < 0),
            "confirmed_at": _ts(np.maximum(conf, 0), conf < 0),
            "confirmed_by": pa.array(plan.confirmed_by, pa.string()),
        },
        schema=SCHEMAS["deliveries"],
    )


def operators_table() -> pa.Table:
    return pa.table(
        {"operator": [op for op, _ in OPERATORS], "roles": [list(roles) for _, roles in OPERATORS]},
        schema=SCHEMAS["operators"],
    )
