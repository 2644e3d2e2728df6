"""Event tables of one chunk: feedback (bounces, retries, deliveries, expiries, ignored) and
tracking (opens, clicks, opt-outs, mirror pages, complaints), with their arrival delays and
duplicates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sendlens.ingest.contracts import OUTCOMES, TRACKING_TYPES
from sendlens.sample.hashing import SCHEMAS, Hasher, _fixed_ids, _take, _ts
from sendlens.sample.messages import Chunk
from sendlens.sample.routes import (
    CLICK_GIVEN_OPEN, COMPLAINT, CONTENT_URLS, DELIVERED_SMTP, DUPLICATE_SHARE, EMAIL,
    ENGAGED_SHARE, EXPIRED_DIAGNOSTIC, FAILURES, GOOGLE_PROXY_SHARE, HARD_THEN_DELIVERED, HOUR,
    IMAGES_OFF, LATE_SHARE, MAX_CLICKS, MAX_OPENS, MAX_SOFT_ATTEMPTS, MINUTE, MIRROR, MPP_SHARE, MS,
    OPEN_ENGAGED, OPEN_OTHER, OPT_OUT, OUTCOME_CODE, PUSH, PUSH_CLICK_GIVEN_OPEN, PUSH_OPEN,
    R_CORP, R_GMAIL, ROUTES, SAME_SHARE, SCANNED_SHARE, SEC, SMS, SMS_CLICK, TRACKING_CODE,
    U_MIRROR, U_OPT_OUT, U_PUSH, U_SMS, UA_APP, UA_BROWSER, UA_MAIL_OPEN, UA_MOBILE, UA_SCANNERS,
    URLS, USER_AGENTS,
)

_FAILURE_KEYS = tuple(FAILURES)
_FAILURE_CODE = {k: i for i, k in enumerate(_FAILURE_KEYS)}
REASONS = tuple(dict.fromkeys(v[0] for v in FAILURES.values()))
SMTP_CODES = tuple(dict.fromkeys([v[1] for v in FAILURES.values() if v[1]] + ["250"]))
DIAGNOSTICS = (tuple(v[2] for v in FAILURES.values())
               + tuple(DELIVERED_SMTP[ch][1] for ch in (EMAIL, SMS, PUSH))
               + tuple(EXPIRED_DIAGNOSTIC.format(n=n) for n in range(1, MAX_SOFT_ATTEMPTS + 1)))
_F_REASON = np.array([REASONS.index(v[0]) for v in FAILURES.values()])
_F_SMTP = np.array([SMTP_CODES.index(v[1]) if v[1] else -1 for v in FAILURES.values()])
_F_DIAG = np.arange(len(FAILURES))
_D_EXPIRED = len(FAILURES) + 3  # + (n - 1)
_SMTP_250 = SMTP_CODES.index("250")


def _route_table(attr: str) -> np.ndarray:
    """Cumulative weights [route, failure profile] for one failure kind (hard/soft/ignored)."""
    table = np.zeros((len(ROUTES), len(_FAILURE_KEYS)))
    for i, r in enumerate(ROUTES):
        for key, w in getattr(r, attr).items():
            table[i, _FAILURE_CODE[key]] = w
    cum = np.cumsum(table, axis=1)
    return cum / cum[:, -1:]


_CUM = {attr: _route_table(attr) for attr in ("hard", "soft", "ignored")}


def _pick_failure(attr: str, route: np.ndarray, u: np.ndarray) -> np.ndarray:
    cum = _CUM[attr][route]
    return np.minimum((u[:, None] >= cum).sum(axis=1), len(_FAILURE_KEYS) - 1)


@dataclass
class Events:
    """Column arrays of a batch of events (positions refer to rows of the chunk)."""

    pos: list[np.ndarray]
    slot: list[np.ndarray]
    at: list[np.ndarray]
    cols: dict[str, list[np.ndarray]]

    @classmethod
    def new(cls, *names: str) -> "Events":
        return cls([], [], [], {n: [] for n in names})

    def add(self, pos: np.ndarray, slot: int | np.ndarray, at: np.ndarray, **cols: int | np.ndarray) -> None:
        n = len(pos)
        self.pos.append(pos)
        self.slot.append(np.broadcast_to(np.asarray(slot, dtype=np.int64), (n,)))
        self.at.append(np.asarray(at, dtype=np.int64))
        for name in self.cols:
            self.cols[name].append(np.broadcast_to(np.asarray(cols.get(name, -1), dtype=np.int64), (n,)))

    def concat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
        return cat(self.pos), cat(self.slot), cat(self.at), {k: cat(v) for k, v in self.cols.items()}


def _arrival(h: Hasher, stream: str, key: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """received_at for events (same instant, seconds later, or hours late) and duplicate picks."""
    u = h.u(f"{stream}_arrival", key)
    delay = np.where(u < SAME_SHARE, 0,
                     np.where(u < 1 - LATE_SHARE, (1 + h.u(f"{stream}_lag", key) * 89) * SEC,
                              30 * MINUTE + h.exp(f"{stream}_late", key, 5 * HOUR)))
    received = at + delay.astype(np.int64)
    received -= received % MS
    return received, h.u(f"{stream}_dup", key) < DUPLICATE_SHARE


def _row_order(key: np.ndarray, dup: np.ndarray) -> np.ndarray:
    """Rows sorted by event key (message, then slot), an exact copy right after each duplicate.

    Sorting by key makes the file content independent of chunk boundaries."""
    order = np.argsort(key, kind="stable")
    return np.repeat(order, 1 + dup[order].astype(np.int64))


def feedback_table(h: Hasher, c: Chunk) -> pa.Table:
    ev = Events.new("outcome", "failure", "smtp", "diag", "attempt")
    idx = np.arange(len(c.gidx))

    # Hard bounces: synchronous rejection seconds after relay; reason is the address's.
    p = idx[c.hard]
    fail = _pick_failure("hard", c.route[p], h.u("hard_reason", c.profile[p] * 4 + c.channel[p]))
    at = c.relayed_at[p] + 300 * MS + h.exp("hard_delay", c.gidx[p], 10 * SEC).astype(np.int64)
    at -= at % MS
    ev.add(p, 0, at, outcome=OUTCOME_CODE["hard_bounce"], failure=fail, attempt=1)
    odd = p[h.u("hard_then_delivered", c.gidx[p]) < HARD_THEN_DELIVERED]
    if len(odd):
        later = at[np.isin(p, odd)] + MINUTE + (h.u("odd_delay", c.gidx[odd]) * 29 * MINUTE).astype(np.int64)
        ev.add(odd, 8, later - later % MS, outcome=OUTCOME_CODE["delivered"], diag=_pick_delivered(c, odd),
               smtp=_delivered_smtp(c, odd))

    # Soft bounces: the retry timeline fixed in chunk_facts.
    p, n_att = c.soft_pos, c.soft_n
    fail = _pick_failure("soft", c.route[p], h.u("soft_reason", c.gidx[p]))
    rows, cols = np.nonzero(np.arange(MAX_SOFT_ATTEMPTS + 1)[None, :] < n_att[:, None])
    ev.add(p[rows], 1 + cols, c.soft_times[rows, cols], outcome=OUTCOME_CODE["soft_bounce"],
           failure=fail[rows], attempt=1 + cols)
    rec = c.recovered[p]
    ev.add(p[rec], 6, c.soft_success_at[rec], outcome=OUTCOME_CODE["delivered"], attempt=n_att[rec] + 1,
           diag=_pick_delivered(c, p[rec]), smtp=_delivered_smtp(c, p[rec]))
    x = ~rec
    ev.add(p[x], 6, c.soft_expired_at[x], outcome=OUTCOME_CODE["expired"], failure=fail[x], attempt=n_att[x],
           diag=_D_EXPIRED + n_att[x] - 1)

    # EFS: every clean relayed message reports its delivery in real time.
    p = idx[c.relayed & ~c.hard & ~c.soft & c.efs]
    ev.add(p, 0, c.delivered_at[p], outcome=OUTCOME_CODE["delivered"], attempt=1,
           diag=_pick_delivered(c, p), smtp=_delivered_smtp(c, p))

    # Ignored (out of office, handset off) after delivery.
    p_ign = np.array([r.p_ignored for r in ROUTES])[c.route]
    p = idx[c.delivered & (h.u("ignored", c.gidx) < p_ign)]
    fail = _pick_failure("ignored", c.route[p], h.u("ignored_reason", c.gidx[p]))
    at = c.delivered_at[p] + 5 * SEC + h.exp("ignored_delay", c.gidx[p], 20 * MINUTE).astype(np.int64)
    ev.add(p, 7, at - at % MS, outcome=OUTCOME_CODE["ignored"], failure=fail)

    pos, slot, at, cols = ev.concat()
    key = c.gidx[pos] * 10 + slot
    received, dup = _arrival(h, "feedback", key, at)
    rows = _row_order(key, dup)
    pos, key, at, received = pos[rows], key[rows], at[rows], received[rows]
    cols = {name: col[rows] for name, col in cols.items()}
    fail = cols["failure"]
    has_fail = fail >= 0
    smtp = np.where(has_fail, _F_SMTP[np.maximum(fail, 0)], cols["smtp"])
    diag = np.where(cols["diag"] >= 0, cols["diag"], np.where(has_fail, _F_DIAG[np.maximum(fail, 0)], -1))
    table = pa.table(
        {
            "event_id": _fixed_ids("fb", key, 11),
            "message_id": _fixed_ids("m", c.gidx[pos], 10),
            "event_at": _ts(at),
            "received_at": _ts(received),
            "outcome": _take(OUTCOMES, cols["outcome"]),
            "failure_reason": _take(REASONS, np.where(has_fail, _F_REASON[np.maximum(fail, 0)], -1)),
            "smtp_code": _take(SMTP_CODES, smtp),
            "diagnostic": _take(DIAGNOSTICS, diag),
            "attempt": pa.array(cols["attempt"], mask=cols["attempt"] < 0),
        },
        schema=SCHEMAS["feedback"],
    )
    return table


def _pick_delivered(c: Chunk, p: np.ndarray) -> np.ndarray:
    return len(FAILURES) + c.channel[p]


def _delivered_smtp(c: Chunk, p: np.ndarray) -> np.ndarray:
    return np.where(c.channel[p] == EMAIL, _SMTP_250, -1)


def tracking_table(h: Hasher, c: Chunk) -> pa.Table:
    """Opens, clicks, opt-outs, mirror pages and complaints of finally delivered messages."""
    ev = Events.new("type", "url", "ua")
    idx = np.arange(len(c.gidx))
    g, prof = c.gidx, c.profile
    email = idx[c.delivered & (c.channel == EMAIL)]
    pk = prof[email] * 2 + c.is_test[email]  # profile key (test and regular profiles are distinct)
    ge, t0 = g[email], c.delivered_at[email]
    route = c.route[email]

    engaged = h.u("engaged", pk) < ENGAGED_SHARE
    mpp = h.u("mpp", pk) < MPP_SHARE
    scanned = (route == R_CORP) & (h.u("scanned", pk) < SCANNED_SHARE)
    opener = h.u("open", ge) < np.where(engaged, OPEN_ENGAGED, OPEN_OTHER)
    clicker = opener & (h.u("click", ge) < CLICK_GIVEN_OPEN)
    images_off = clicker & ~mpp & (h.u("images_off", ge) < IMAGES_OFF)

    # Human opens: 1..MAX_OPENS, first after 30 s + a decaying (two-exponential) delay.
    o = np.flatnonzero(opener)
    n_open = h.geometric("n_opens", ge[o], 0.45, MAX_OPENS)
    k = np.arange(MAX_OPENS)
    okey = ge[o][:, None] * 16 + k[None, :]
    slow = h.u("open_slow", ge[o]) < 0.25
    first_open = t0[o] + 30 * SEC + h.exp("open_delay", ge[o], 1.0) * np.where(slow, 48 * HOUR, 2 * HOUR)
    gaps = 20 * SEC + h.exp("reopen", okey, 8 * HOUR)
    gaps[:, 0] = 0
    open_times = (first_open[:, None] + np.cumsum(gaps, axis=1)).astype(np.int64)
    rows, cols = np.nonzero((k[None, :] < n_open[:, None]) & ~images_off[o][:, None])
    ua = h.choice("open_ua", okey[rows, cols], UA_MAIL_OPEN)
    gmail = route[o][rows] == R_GMAIL
    ua = np.where(gmail & (h.u("gproxy", okey[rows, cols]) < GOOGLE_PROXY_SHARE), 1, ua)
    ua = np.where(mpp[o][rows], 6, ua)  # Apple Mail users' own opens: iPhone Mail
    ev.add(email[o][rows], 1 + cols, open_times[rows, cols], type=TRACKING_CODE["open"], ua=ua)

    # Apple Mail Privacy Protection: one proxy open seconds after delivery.
    m = np.flatnonzero(mpp)
    at = t0[m] + SEC + (h.u("mpp_delay", ge[m]) * 19 * SEC).astype(np.int64)
    ev.add(email[m], 0, at, type=TRACKING_CODE["open"], ua=0)

    # Security scanners: open and click every content link 1-5 s after relay.
    s = np.flatnonzero(scanned)
    scan_ua = np.where(h.u("scanner", pk[s]) < 0.5, UA_SCANNERS[0], UA_SCANNERS[1])
    base = np.where(c.recovered[email[s]], t0[s], c.relayed_at[email[s]])
    ev.add(email[s], 20, base + SEC + (h.u("scan_open", ge[s]) * SEC).astype(np.int64),
           type=TRACKING_CODE["open"], ua=scan_ua)
    for j in range(len(CONTENT_URLS)):
        at = base + 2 * SEC + (h.u(f"scan_click{j}", ge[s]) * 3 * SEC).astype(np.int64)
        ev.add(email[s], 21 + j, at, type=TRACKING_CODE["click"], url=j, ua=scan_ua)

    # Human clicks after the first open (or, images off, after delivery).
    cl = np.flatnonzero(clicker)
    n_click = h.geometric("n_clicks", ge[cl], 0.35, MAX_CLICKS)
    kc = np.arange(MAX_CLICKS)
    ckey = ge[cl][:, None] * 16 + kc[None, :]
    first_open_cl = first_open[np.searchsorted(o, cl)]
    cgaps = 2 * SEC + h.exp("click_gap", ckey, 5 * MINUTE)
    cgaps[:, 0] = 5 * SEC + h.exp("first_click", ge[cl], 90 * SEC)
    click_times = (first_open_cl[:, None] + np.cumsum(cgaps, axis=1)).astype(np.int64)
    rows, cols = np.nonzero(kc[None, :] < n_click[:, None])
    url = (h.u("click_url", ckey[rows, cols]) * len(CONTENT_URLS)).astype(np.int64)
    ev.add(email[cl][rows], 10 + cols, click_times[rows, cols], type=TRACKING_CODE["click"], url=url,
           ua=h.choice("click_ua", ge[cl][rows], UA_BROWSER))

    # Opt-outs, mirror pages, complaints.
    for name, share, slot, mean, url in (("opt_out", OPT_OUT, 30, 6 * HOUR, U_OPT_OUT),
                                         ("mirror_page", MIRROR, 31, 3 * HOUR, U_MIRROR),
                                         ("complaint", COMPLAINT, 32, 12 * HOUR, -1)):
        q = np.flatnonzero(h.u(name, ge) < share)
        at = t0[q] + MINUTE + h.exp(f"{name}_delay", ge[q], mean).astype(np.int64)
        ua = h.choice(f"{name}_ua", ge[q], UA_BROWSER) if url >= 0 else -1
        ev.add(email[q], slot, at, type=TRACKING_CODE[name], url=url, ua=ua)

    # Push: opens and in-app clicks. SMS: link clicks only.
    push = idx[c.delivered & (c.channel == PUSH)]
    q = push[h.u("push_open", g[push]) < PUSH_OPEN]
    at = c.delivered_at[q] + 10 * SEC + h.exp("push_open_delay", g[q], 40 * MINUTE).astype(np.int64)
    ua = h.choice("app_ua", prof[q], UA_APP)
    ev.add(q, 1, at, type=TRACKING_CODE["open"], ua=ua)
    sel = h.u("push_click", g[q]) < PUSH_CLICK_GIVEN_OPEN
    ev.add(q[sel], 10, at[sel] + 2 * SEC + h.exp("push_click_delay", g[q][sel], 20 * SEC).astype(np.int64),
           type=TRACKING_CODE["click"], url=U_PUSH, ua=ua[sel])
    sms = idx[c.delivered & (c.channel == SMS)]
    q = sms[h.u("sms_click", g[sms]) < SMS_CLICK]
    at = c.delivered_at[q] + 20 * SEC + h.exp("sms_click_delay", g[q], 30 * MINUTE).astype(np.int64)
    ev.add(q, 10, at, type=TRACKING_CODE["click"], url=U_SMS, ua=h.choice("sms_ua", g[q], UA_MOBILE))

    pos, slot, at, cols = ev.concat()
    at = at - at % MS
    key = g[pos] * 100 + slot
    received, dup = _arrival(h, "tracking", key, at)
    rows = _row_order(key, dup)
    pos, key, at, received = pos[rows], key[rows], at[rows], received[rows]
    cols = {name: col[rows] for name, col in cols.items()}
    table = pa.table(
        {
            "event_id": _fixed_ids("tr", key, 12),
            "message_id": _fixed_ids("m", g[pos], 10),
            "event_at": _ts(at),
            "received_at": _ts(received),
            "type": _take(TRACKING_TYPES, cols["type"]),
            "url": _take(URLS, cols["url"]),
            "user_agent": _take(USER_AGENTS, cols["ua"]),
        },
        schema=SCHEMAS["tracking"],
    )
    return table
