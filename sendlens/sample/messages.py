"""Per-message facts of one chunk (profile, route, relay, bounce and delivery times, shared by
send_log, feedback and tracking), profile ids and addresses, and the send_log and exclusions
tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sendlens.ingest.contracts import EXCLUSION_REASONS
from sendlens.sample.hashing import SCHEMAS, Hasher, _fixed_ids, _hex_tokens, _merge, _take, _ts
from sendlens.sample.plan import Plan
from sendlens.sample.routes import (
    DAY, EMAIL, EMAIL_ROUTE_CUM, EMAIL_ROUTES, HOUR, LATE_SUCCESS, MAX_SOFT_ATTEMPTS, MINUTE, MS,
    NOT_RELAYED, PROFILE_SCRAMBLE, PUSH, R_PUSH, R_QA, R_SMS, R_TYPO, ROUTES, SEC, SMS,
    SOFT_RECOVERY, TEST_PROFILES,
)


# ---------------------------------------------------------------------------------------------
# Profiles and addresses
# ---------------------------------------------------------------------------------------------


def _scramble(x: np.ndarray, profiles: int) -> np.ndarray:
    """A bijection of 0..profiles-1 so consecutive audience slots are unrelated profiles."""
    a = PROFILE_SCRAMBLE % profiles
    while np.gcd(a, profiles) != 1:
        a += 1
    return (x % profiles) * a % profiles


def email_route(h: Hasher, profile: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(EMAIL_ROUTE_CUM / EMAIL_ROUTE_CUM[-1], h.u("route", profile), side="right")
    return EMAIL_ROUTES[np.minimum(pos, len(EMAIL_ROUTES) - 1)]


def addresses(h: Hasher, channel: np.ndarray, profile: np.ndarray, is_test: np.ndarray,
              route: np.ndarray) -> pa.Array:
    """Address per (channel, profile); test profiles use their own QA addresses."""
    n = len(channel)
    parts: list[tuple[np.ndarray, pa.Array]] = []
    email = np.flatnonzero(channel == EMAIL)
    if len(email):
        domain = _take(["@" + r.name for r in ROUTES], route[email])
        local = pc.if_else(pa.array(is_test[email]), "qa.seed", "user")
        parts.append((email, pc.binary_join_element_wise(local, pc.cast(pa.array(profile[email]), pa.string()), domain, "")))
    sms = np.flatnonzero(channel == SMS)
    if len(sms):
        num = np.where(is_test[sms], 10_000_000 + profile[sms], 10_000_100 + profile[sms] % 89_999_900)
        prefix = _take(["+336", "+316"], (h.u("phone_country", profile[sms]) < 0.3).astype(np.int32))
        parts.append((sms, pc.binary_join_element_wise(prefix, pc.cast(pa.array(num), pa.string()), "")))
    push = np.flatnonzero(channel == PUSH)
    if len(push):
        key = profile[push] * 2 + is_test[push]
        parts.append((push, _hex_tokens([h.bits(f"token{j}", key) for j in range(4)])))
    return _merge(parts, n)


def profile_ids(profile: np.ndarray, is_test: np.ndarray) -> pa.Array:
    test = np.flatnonzero(is_test)
    regular = np.flatnonzero(~is_test)
    return _merge([(regular, _fixed_ids("p", profile[regular], 9)), (test, _fixed_ids("qa", profile[test], 4))],
                  len(profile))


# ---------------------------------------------------------------------------------------------
# One chunk of messages: the per-message facts shared by send_log, feedback and tracking
# ---------------------------------------------------------------------------------------------


@dataclass
class Chunk:
    gidx: np.ndarray  # global message index
    delivery: np.ndarray
    channel: np.ndarray
    efs: np.ndarray
    contact: np.ndarray
    validity_end: np.ndarray
    is_test: np.ndarray
    profile: np.ndarray  # regular profile number, or test profile number
    route: np.ndarray
    relayed: np.ndarray  # bool
    relayed_at: np.ndarray  # us (meaningless when not relayed)
    hard: np.ndarray
    soft: np.ndarray
    recovered: np.ndarray
    delivered: np.ndarray  # finally delivered (clean or recovered)
    delivered_at: np.ndarray  # us, meaningful when delivered (retry success time if recovered)
    soft_pos: np.ndarray  # rows with a soft bounce, and their retry timeline:
    soft_n: np.ndarray  # number of soft_bounce events (attempts)
    soft_times: np.ndarray  # [row, k] = event_at of attempt k+1; [row, n] = success time
    soft_success_at: np.ndarray  # delivered event (recovered) - may fall after validity_end
    soft_expired_at: np.ndarray  # expired event (not recovered)


def chunk_facts(plan: Plan, h: Hasher, lo: int, hi: int) -> Chunk:
    g = np.arange(lo, hi, dtype=np.int64)
    d = np.searchsorted(plan.first, g, side="right") - 1
    local = g - plan.first[d]
    channel = plan.channel[d].astype(np.int64)
    contact = plan.contact[d]
    validity = plan.validity[d]
    validity = np.where(channel == EMAIL, np.minimum(validity, 84.0), validity)
    validity_end = contact + (validity * HOUR).astype(np.int64)
    is_test = local < plan.n_test[d]
    # Test profiles: 1..TEST_PROFILES; regular: a contiguous arc of the scrambled pool.
    regular_slot = plan.profile_offset[d] + local - plan.n_test[d]
    profile = np.where(is_test, local % TEST_PROFILES + 1, _scramble(regular_slot, plan.profiles))
    route = np.where(channel == SMS, R_SMS, np.where(channel == PUSH, R_PUSH, 0))
    email = channel == EMAIL
    route[email] = email_route(h, profile[email])
    route[is_test] = np.where(channel[is_test] == EMAIL, R_QA, route[is_test])

    relayed = h.u("relayed", g) >= NOT_RELAYED
    relayed_at = contact + SEC + local * plan.spacing[d] + h.exp("relay_jitter", g, 2 * SEC).astype(np.int64)
    relayed_at -= relayed_at % MS

    p_dead = np.array([r.p_dead for r in ROUTES])[route]
    p_soft = np.array([r.p_soft for r in ROUTES])[route]
    dead_since = plan.start - 4 * DAY + (h.u("dead_since", profile) * 8 * DAY).astype(np.int64)
    dead_since = np.where(route == R_TYPO, np.iinfo(np.int64).min, dead_since)
    dead = ~is_test & (h.u("dead", profile * 4 + channel) < p_dead) & (contact >= dead_since)
    hard = relayed & dead
    soft = relayed & ~hard & (h.u("soft", g) < p_soft)
    recovered = soft & (h.u("recovered", g) < SOFT_RECOVERY)
    clean = relayed & ~hard & ~soft
    delivered_at = relayed_at + SEC // 2 + h.exp("delivery_delay", g, 3 * SEC).astype(np.int64)
    delivered_at -= delivered_at % MS

    # Soft bounces: 1..n attempts spread over the validity period, then delivered or expired.
    sp = np.flatnonzero(soft)
    gs = g[sp]
    n_att = h.geometric("soft_attempts", gs, 0.45, MAX_SOFT_ATTEMPTS)
    first_try = relayed_at[sp] + SEC + h.exp("soft_first", gs, 20 * SEC).astype(np.int64)
    window = (validity_end[sp] - first_try).astype(np.float64)
    k = np.arange(MAX_SOFT_ATTEMPTS + 1)
    gaps = (window / (n_att + 1))[:, None] * (0.15 + 0.85 * h.u("soft_gap", gs[:, None] * 8 + k[None, :]) ** 2)
    gaps[:, 0] = 0
    times = first_try[:, None] + np.cumsum(gaps, axis=1).astype(np.int64)  # < validity_end
    times -= times % MS
    end = validity_end[sp]
    late = h.u("late_success", gs) < LATE_SUCCESS
    success_at = np.where(late, end + 5 * MINUTE + (h.u("late_success_at", gs) * 3 * HOUR).astype(np.int64),
                          times[np.arange(len(sp)), n_att])
    success_at -= success_at % MS
    expired_at = end + (h.u("expired_at", gs) * 15 * MINUTE).astype(np.int64)
    expired_at -= expired_at % MS
    rec = recovered[sp]
    delivered_at[sp[rec]] = success_at[rec]
    return Chunk(g, d, channel, plan.efs[d], contact, validity_end, is_test, profile, route, relayed,
                 relayed_at, hard, soft, recovered, clean | recovered, delivered_at,
                 sp, n_att, times, success_at, expired_at)


def send_log_table(plan: Plan, h: Hasher, c: Chunk) -> pa.Table:
    delivery_ids = pa.array(plan.ids, pa.string())
    return pa.table(
        {
            "message_id": _fixed_ids("m", c.gidx, 10),
            "delivery_id": delivery_ids.take(pa.array(c.delivery)),
            "profile_id": profile_ids(c.profile, c.is_test),
            "address": addresses(h, c.channel, c.profile, c.is_test, c.route),
            "is_test_profile": pa.array(c.is_test),
            "relayed_at": _ts(c.relayed_at, ~c.relayed),
            # the sample's MTA states no end of retries: validity comes from the delivery
            "expires_at": pa.nulls(len(c.gidx), pa.timestamp("us")),
        },
        schema=SCHEMAS["send_log"],
    )


def exclusions_table(plan: Plan, h: Hasher, d_lo: int, d_hi: int) -> pa.Table:
    """Targets excluded during preparation for deliveries d_lo..d_hi-1 (never in send_log)."""
    counts = plan.n_excluded[d_lo:d_hi]
    d = np.repeat(np.arange(d_lo, d_hi), counts)
    e = np.arange(len(d)) - np.repeat(np.cumsum(counts) - counts, counts)
    key = d * 1_000_000 + e
    weights = np.cumsum([0.40, 0.20, 0.20, 0.12, 0.08])
    reason = np.minimum(np.searchsorted(weights, h.u("exclusion_reason", key), side="right"), 4)
    regular = plan.size[d] - plan.n_test[d]
    profile = _scramble(plan.profile_offset[d] + regular + e, plan.profiles)
    channel = plan.channel[d].astype(np.int64)
    no_test = np.zeros(len(d), dtype=bool)

    def route_of(p: np.ndarray) -> np.ndarray:
        r = np.where(channel == SMS, R_SMS, np.where(channel == PUSH, R_PUSH, 0))
        r[channel == EMAIL] = email_route(h, p[channel == EMAIL])
        return r

    own = addresses(h, channel, profile, no_test, route_of(profile))
    # A duplicate shares the address of a profile that is targeted (slot e of the audience).
    dup_of = _scramble(plan.profile_offset[d] + e % np.maximum(regular, 1), plan.profiles)
    shared = addresses(h, channel, dup_of, no_test, route_of(dup_of))
    pids = profile_ids(profile, no_test)
    empty = pc.binary_join_element_wise("empty:", pids, "")
    is_dup = pa.array(reason == EXCLUSION_REASONS.index("duplicate"))
    is_empty = pa.array(reason == EXCLUSION_REASONS.index("address_empty"))
    address = pc.if_else(is_dup, shared, pc.if_else(is_empty, empty, own))
    at = plan.contact[d] - MINUTE - (h.u("excluded_at", key) * 19 * MINUTE).astype(np.int64)
    return pa.table(
        {
            "delivery_id": pa.array(plan.ids, pa.string()).take(pa.array(d)) if len(d) else pa.array([], pa.string()),
            "address": address,
            "profile_id": pids,
            "reason": _take(EXCLUSION_REASONS, reason),
            "excluded_at": _ts(at - at % SEC),
        },
        schema=SCHEMAS["exclusions"],
    )
