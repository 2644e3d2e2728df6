"""Deterministic, realistic synthetic data for every landing kind (``sendlens generate``).

``generate(out_dir, messages, seed)`` writes ``<kind>.parquet`` for deliveries, send_log,
exclusions, feedback, tracking and operators, with exactly the columns of
``ingest.contracts.CONTRACTS`` (string -> string, bool -> bool, timestamp -> timestamp[us]
naive UTC, double -> float64, int -> int64, list -> list<string>), zstd-compressed.

Determinism and streaming
-------------------------
The output is a pure function of ``(messages, seed, start)``. Delivery-level choices (a few
thousand rows at most) use ``numpy.random.default_rng(seed)``. Everything per message, per
profile and per event is a counter-based hash (splitmix64) of ``(seed, stream, index)``: a
message's fate depends only on its global index, a profile's traits only on its number, so
the content does not even depend on ``chunk_size``. Messages are produced in chunks of
``chunk_size`` with vectorised numpy (no Python loop per row) and each chunk is written as one
Parquet row group per kind, so memory stays bounded whatever ``messages`` is. Parquet
encoding of chunk k runs in a writer thread while chunk k+1 is generated.

Shapes and bands (the test asserts the realised values on 50k messages fall within them)
---------------------------------------------------------------------------------------
deliveries
  * one execution per ~4,000 messages (at least 12 when ``messages`` allows, never more than
    ``messages``), sizes log-normal; plus 2 proofs (``is_proof``, 2-5 messages each, all to
    test profiles) and recurring parents (one per ~500 executions, at least one from 8
    executions) with 3-5 child executions at daily intervals (``parent_delivery_id``). A
    recurring parent has no messages of its own: its executions carry them (Adobe Campaign's
    model); it aggregates its children.
  * channel mix of executions: email 85% (band 75-95%), sms 10%, push 5% (at least one
    each). Exact counts, shuffled.
  * efs_enabled: email only, ~30% of executions (band 20-40%).
  * contact_date: within 4 days after ``start``, daytime; recurring children +1 day each.
  * validity_hours: 84 mostly; ~20% of email singles 120 (the model caps email at 84);
    sms 24 or 48.
  * requires_confirmation: ~90% of singles (children: false, their parent: true); confirmed
    ones have scheduled_at <= contact_date and confirmed_at before it; ~3% (at least 1)
    confirmed by an operator lacking ``start_deliveries``; 1-2 require confirmation but have
    none (confirmed_at/by null).
operators
  8 operators with role lists (start_deliveries, prepare_deliveries, workflow, ...).
send_log
  * message_id 'm' + 10 digits, unique; ordered by delivery, deliveries by contact_date.
  * profiles 'p' + 9 digits, a pool of ~messages/4 profiles reused across deliveries (never
    twice in one delivery); test profiles 'qa' + 4 digits: ~0.5% of each execution plus the
    proofs (band 0.3-1.2% of messages).
  * email 'user123@domain' over gmail.com 36%, yahoo.com 12%, outlook.com 16%,
    hotmail.com 8%, orange.fr 14%, acme-corp.com 6% (corporate, security scanners),
    free.fr 7.6%, gmial.com 0.4% (typo domain: always hard-bounces 'invalid domain');
    sms '+336'/'+316' + 8 digits; push a 64-hex device token; test profiles
    'qa.seed<k>@sendlens-qa.com' (never bounce).
  * relayed_at: contact_date + 1 s + position / throughput (50-300 msg/s) + jitter: seconds
    to minutes; 0.3% never relayed (null; band 0.1-0.6%).
exclusions
  0.5-2.5% of each execution's size (at least 1), reasons quarantined 40%, denylisted 20%,
  duplicate 20% (another profile sharing an address that is targeted), address_empty 12%
  (address 'empty:<profile_id>', the key column cannot be empty), other 8%; excluded_at
  1-20 minutes before contact_date; the excluded profile never appears in that delivery's
  send_log.
feedback
  * hard bounces (band 1-3% of relayed email messages): addresses die at a per-profile
    instant (so an address keeps bouncing), per-domain rates; reasons mostly 'user unknown',
    also 'account disabled', 'refused', 'invalid domain' (typo domain) and the unknown label
    'spam trap hit'. 1% of hard bounces get a later, contradictory 'delivered' event.
  * soft bounces (band 3-6% of relayed email messages), reasons mailbox full (452 4.2.2),
    refused/throttling (421), unreachable, account disabled, not defined, invalid domain
    (DNS) and the unknown label 'greylisted': 1-5 'soft_bounce' events (attempt 1..n) spread
    over the validity period, then 'delivered' (attempt n+1, ~60%, band 50-70%) before
    validity_end or 'expired' at/just after validity_end (~40%). 3% of the recovered ones
    succeed only after validity_end (does not count).
  * efs deliveries: every relayed message that does not bounce gets a 'delivered' event
    (attempt 1) seconds after relay. Standard deliveries: the MTA reports failures and retry
    successes only (plus the rare contradictory delivery after a hard bounce).
  * 'ignored': ~0.6% of delivered email (out-of-office, 'error ignored'), ~1% of sms
    ('not connected').
  * received_at = event_at (70%), or 1-90 s later (28%), or late: 30 min + hours (2%, band
    1-3.5%); 1% of events duplicated as exact copies (band 0.5-1.6%). Event rows are ordered
    by (message, event slot), each duplicate right after its original.
tracking (delivered messages only)
  * email: 30% of profiles are engaged (70% open) and the rest open 8%: human opens on ~25%
    of delivered email (band 20-35%; with machine opens ~33%), 1-6 opens each (mean ~1.8),
    first open 30 s after delivery plus an exponential mixture (75% mean 2 h, 25% mean 48 h:
    median ~4 h after contact, ~0.8% of opens more than 7 days after contact_date).
  * machine activity: 7% of profiles use Apple Mail Privacy Protection: one open 1-20 s after
    delivery with the bare WebKit user agent (``UA_MPP``; ~12.5% of email opens, band
    10-20%); 30% of human gmail.com opens come through GoogleImageProxy (~8.5% of opens);
    security scanners (25% of acme-corp.com profiles) open and click every content link
    1-5 s after relay with a Barracuda/Mimecast user agent. Human opens come >= 30 s and human
    clicks >= 35 s after delivery, so the time heuristics never flag them.
  * clicks: 15% of human openers (band 10-20%), 1-4 clicks on 4 content links; 5.5% of
    non-MPP clickers have images off, so no open at all (click without open: ~5% of human
    clickers, band 2-10%).
  * opt_out 0.3%, mirror_page 1%, complaint 0.05% of delivered email (url set except for
    complaints, which come from feedback loops without url or user agent).
  * push: opens 12% of delivered, clicks for 35% of those (app user agents, deep link);
    sms: clicks only (4% of delivered).
  * received_at and duplicates as for feedback.
"""

from __future__ import annotations

import queue
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.contracts import CONTRACTS, EXCLUSION_REASONS, KINDS, OUTCOMES, TRACKING_TYPES

# ---------------------------------------------------------------------------------------------
# Shared constants
# ---------------------------------------------------------------------------------------------

DEFAULT_START = datetime(2026, 1, 5, 8, 0, 0)
EPOCH = datetime(1970, 1, 1)

MS = 1_000
SEC = 1_000_000
MINUTE = 60 * SEC
HOUR = 3600 * SEC
DAY = 24 * HOUR

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "double": pa.float64(),
    "int": pa.int64(),
    "list": pa.list_(pa.string()),
}
SCHEMAS: dict[str, pa.Schema] = {
    kind: pa.schema([pa.field(c.name, ARROW_TYPES[c.dtype]) for c in contract.columns])
    for kind, contract in CONTRACTS.items()
}
# Columns worth dictionary-encoding in Parquet (the others are unique-ish).
DICTIONARY_COLUMNS: dict[str, list[str]] = {
    "deliveries": ["label", "channel", "parent_delivery_id", "confirmed_by"],
    "send_log": ["delivery_id"],
    "exclusions": ["delivery_id", "reason"],
    "feedback": ["outcome", "failure_reason", "smtp_code", "diagnostic"],
    "tracking": ["type", "url", "user_agent"],
    "operators": [],
}

CHANNELS = ("email", "sms", "push")
EMAIL, SMS, PUSH = 0, 1, 2
OUTCOME_CODE = {o: i for i, o in enumerate(OUTCOMES)}
TRACKING_CODE = {t: i for i, t in enumerate(TRACKING_TYPES)}

# Deliveries
MESSAGES_PER_EXECUTION = 4_000
MIN_EXECUTIONS = 12
CHANNEL_SHARES = (0.85, 0.10, 0.05)
EFS_SHARE = 0.30
CONTACT_SPAN_DAYS = 4
RECURRING_EVERY = 500  # one more recurring parent per this many executions
PROOFS = 2
CONFIRMATION_SHARE = 0.90
WRONG_CONFIRMER_SHARE = 0.03
TEST_PROFILE_SHARE = 0.005
TEST_PROFILES = 60
THEMES = {
    EMAIL: ("Winter sale", "Weekly newsletter", "New arrivals", "Loyalty points update",
            "Abandoned cart reminder", "Flash offer", "Product launch", "Customer survey",
            "Back in stock", "VIP preview"),
    SMS: ("SMS flash sale", "SMS order reminder", "SMS store event", "SMS loyalty bonus"),
    PUSH: ("Push price drop", "Push new collection", "Push cart reminder"),
}
RECURRING_THEMES = ("Daily digest", "Daily deals", "Morning briefing")

OPERATORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("admin", ("administration", "start_deliveries", "prepare_deliveries", "workflow")),
    ("marie.dupont", ("start_deliveries", "prepare_deliveries")),
    ("jan.jansen", ("start_deliveries", "prepare_deliveries", "workflow")),
    ("emma.devries", ("start_deliveries", "reporting")),
    ("sophie.martin", ("prepare_deliveries", "reporting")),
    ("lucas.bernard", ("prepare_deliveries", "workflow")),
    ("workflow.bot", ("workflow",)),
    ("nina.analyst", ("reporting", "data_export")),
)
CONFIRMERS = tuple(op for op, roles in OPERATORS if "start_deliveries" in roles)
NON_CONFIRMERS = ("sophie.martin", "lucas.bernard")

# Messages
PROFILES_PER_MESSAGE = 0.25  # profile pool = messages / 4: a profile gets ~4 messages
NOT_RELAYED = 0.003
PROFILE_SCRAMBLE = 2_654_435_761

# Failure profiles: (reason, smtp_code, diagnostic). Reasons are contracts.FAILURE_REASONS keys,
# except 'spam trap hit' and 'greylisted' (unknown labels, mapped to 'other' downstream).
FAILURES: dict[str, tuple[str, str | None, str]] = {
    "h_unknown_gmail": ("user unknown", "550", "550-5.1.1 The email account that you tried to reach does not exist."),
    "h_unknown": ("user unknown", "550", "550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table"),
    "h_unknown_yahoo": ("user unknown", "554", "554 delivery error: dd This user doesn't have a yahoo.com account"),
    "h_unknown_ms": ("user unknown", "550", "550 5.5.0 Requested action not taken: mailbox unavailable"),
    "h_unknown_fr": ("user unknown", "550", "550 5.1.1 Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416"),
    "h_disabled": ("account disabled", "550", "550 5.2.1 The email account that you tried to reach is disabled."),
    "h_refused": ("refused", "550", "550 5.7.1 Message rejected by recipient policy"),
    "h_spamtrap": ("spam trap hit", "550", "550 5.7.1 Message rejected: recipient address is a spam trap"),
    "h_typo": ("invalid domain", "550", "550 5.1.2 Host or domain name not found. Name service error for name=gmial.com type=MX"),
    "s_full": ("mailbox full", "452", "452 4.2.2 The email account that you tried to reach is over quota."),
    "s_full_fr": ("mailbox full", "452", "452 4.2.2 Boite du destinataire pleine. Recipient mailbox full. OFR_417"),
    "s_yahoo": ("refused", "421", "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user complaints"),
    "s_gmail_rate": ("refused", "421", "421-4.7.28 Unusual rate of unsolicited mail originating from your IP address, temporarily rate limited."),
    "s_ms_busy": ("refused", "451", "451 4.7.500 Server busy. Please try again later from [192.0.2.10]."),
    "s_unreachable": ("unreachable", "421", "421 4.4.2 Connection timed out"),
    "s_disabled": ("account disabled", "450", "450 4.2.1 Mailbox temporarily disabled"),
    "s_notdef": ("not defined", "451", "451 4.3.0 Temporary server error. Please try again later"),
    "s_dns": ("invalid domain", "451", "451 4.4.0 DNS resolution failed: temporary failure in name resolution"),
    "s_grey": ("greylisted", "450", "450 4.7.1 Recipient address rejected: Greylisted, please try again in 300 seconds"),
    "i_ooo": ("error ignored", None, "Auto-reply: Out of office"),
    "i_leave": ("error ignored", None, "Automatic reply: I am on leave until 19 January"),
    "sms_h_unknown": ("user unknown", None, "stat:UNDELIV err:001 Unknown subscriber"),
    "sms_h_service": ("unreachable", None, "stat:UNDELIV err:011 Number not in service"),
    "sms_s_absent": ("unreachable", None, "stat:UNDELIV err:027 Absent subscriber"),
    "sms_s_throttle": ("refused", None, "stat:REJECTD err:088 Operator throttling"),
    "sms_i_off": ("not connected", None, "stat:UNDELIV err:031 Handset switched off"),
    "push_h_unreg": ("user unknown", None, "410 Unregistered: the device token is no longer active"),
    "push_h_token": ("user unknown", None, "400 BadDeviceToken"),
    "push_s_unavail": ("unreachable", None, "503 ServiceUnavailable: try again later"),
    "push_s_internal": ("not defined", None, "500 InternalServerError"),
}
DELIVERED_SMTP = {EMAIL: ("250", "250 2.0.0 OK: queued"), SMS: (None, "stat:DELIVRD err:000"),
                  PUSH: (None, "200 OK")}
EXPIRED_DIAGNOSTIC = "Message expired: validity period ended after {n} delivery attempt(s)"
MAX_SOFT_ATTEMPTS = 5
SOFT_RECOVERY = 0.60
LATE_SUCCESS = 0.03
HARD_THEN_DELIVERED = 0.01


@dataclass(frozen=True)
class Route:
    """Where a message goes: an email domain, or the sms/push gateway, with its bounce profile."""

    name: str
    channel: int
    share: float  # share of email profiles (0 for non-email routes)
    p_dead: float  # share of profiles whose address dies (at a per-profile instant)
    p_soft: float  # per-message soft-bounce probability
    p_ignored: float
    hard: dict[str, float]
    soft: dict[str, float]
    ignored: dict[str, float]


_SOFT_COMMON = {"s_unreachable": 0.12, "s_disabled": 0.05, "s_notdef": 0.08, "s_dns": 0.04, "s_grey": 0.04}
_OOO = {"i_ooo": 0.7, "i_leave": 0.3}
ROUTES: tuple[Route, ...] = (
    Route("gmail.com", EMAIL, 0.36, 0.013, 0.025, 0.006,
          {"h_unknown_gmail": 0.9, "h_disabled": 0.07, "h_spamtrap": 0.03},
          {"s_full": 0.35, "s_gmail_rate": 0.32, **_SOFT_COMMON}, _OOO),
    Route("yahoo.com", EMAIL, 0.12, 0.030, 0.070, 0.006,
          {"h_unknown_yahoo": 0.85, "h_disabled": 0.12, "h_spamtrap": 0.03},
          {"s_yahoo": 0.55, "s_full": 0.12, **_SOFT_COMMON}, _OOO),
    Route("outlook.com", EMAIL, 0.16, 0.020, 0.050, 0.006,
          {"h_unknown_ms": 0.9, "h_disabled": 0.07, "h_spamtrap": 0.03},
          {"s_ms_busy": 0.45, "s_full": 0.22, **_SOFT_COMMON}, _OOO),
    Route("hotmail.com", EMAIL, 0.08, 0.025, 0.050, 0.006,
          {"h_unknown_ms": 0.85, "h_disabled": 0.12, "h_spamtrap": 0.03},
          {"s_ms_busy": 0.40, "s_full": 0.27, **_SOFT_COMMON}, _OOO),
    Route("orange.fr", EMAIL, 0.14, 0.025, 0.065, 0.006,
          {"h_unknown_fr": 0.93, "h_spamtrap": 0.07},
          {"s_full_fr": 0.60, "s_unreachable": 0.15, "s_notdef": 0.15, "s_grey": 0.10}, _OOO),
    Route("acme-corp.com", EMAIL, 0.06, 0.010, 0.030, 0.012,
          {"h_unknown": 0.6, "h_refused": 0.4},
          {"s_grey": 0.30, "s_unreachable": 0.30, "s_full": 0.20, "s_notdef": 0.20}, _OOO),
    Route("free.fr", EMAIL, 0.076, 0.020, 0.040, 0.006,
          {"h_unknown": 0.95, "h_spamtrap": 0.05},
          {"s_full": 0.5, **_SOFT_COMMON}, _OOO),
    Route("gmial.com", EMAIL, 0.004, 1.0, 0.0, 0.0, {"h_typo": 1.0}, {"s_notdef": 1.0}, _OOO),
    Route("#sms", SMS, 0.0, 0.015, 0.030, 0.010,
          {"sms_h_unknown": 0.8, "sms_h_service": 0.2},
          {"sms_s_absent": 0.8, "sms_s_throttle": 0.2}, {"sms_i_off": 1.0}),
    Route("#push", PUSH, 0.0, 0.030, 0.010, 0.0,
          {"push_h_unreg": 0.8, "push_h_token": 0.2},
          {"push_s_unavail": 0.7, "push_s_internal": 0.3}, {"push_s_internal": 1.0}),
    Route("sendlens-qa.com", EMAIL, 0.0, 0.0, 0.0, 0.0, {"h_unknown": 1.0}, {"s_notdef": 1.0}, _OOO),
)
ROUTE_INDEX = {r.name: i for i, r in enumerate(ROUTES)}
EMAIL_ROUTES = np.array([i for i, r in enumerate(ROUTES) if r.share > 0])
EMAIL_ROUTE_CUM = np.cumsum([ROUTES[i].share for i in EMAIL_ROUTES])
R_TYPO, R_CORP, R_GMAIL = ROUTE_INDEX["gmial.com"], ROUTE_INDEX["acme-corp.com"], ROUTE_INDEX["gmail.com"]
R_SMS, R_PUSH, R_QA = ROUTE_INDEX["#sms"], ROUTE_INDEX["#push"], ROUTE_INDEX["sendlens-qa.com"]
SCANNED_SHARE = 0.25  # share of corporate profiles behind a security scanner

# Tracking
ENGAGED_SHARE = 0.30
OPEN_ENGAGED, OPEN_OTHER = 0.70, 0.08
MPP_SHARE = 0.07
MAX_OPENS = 6
CLICK_GIVEN_OPEN = 0.16
MAX_CLICKS = 4
IMAGES_OFF = 0.055
OPT_OUT, MIRROR, COMPLAINT = 0.003, 0.01, 0.0005
PUSH_OPEN, PUSH_CLICK_GIVEN_OPEN, SMS_CLICK = 0.12, 0.35, 0.04
GOOGLE_PROXY_SHARE = 0.30
LATE_SHARE, SAME_SHARE = 0.02, 0.70
DUPLICATE_SHARE = 0.01

CONTENT_URLS = (
    "https://shop.sendlens-demo.com/new-arrivals?utm_source=email",
    "https://shop.sendlens-demo.com/sale?utm_source=email",
    "https://shop.sendlens-demo.com/product/4242?utm_source=email",
    "https://shop.sendlens-demo.com/account/loyalty?utm_source=email",
)
OPT_OUT_URL = "https://t.sendlens-demo.com/unsubscribe"
MIRROR_URL = "https://t.sendlens-demo.com/mirror"
SMS_URL = "https://sndl.ink/s/offer"
PUSH_URL = "sendlensshop://offers/today"
URLS = CONTENT_URLS + (OPT_OUT_URL, MIRROR_URL, SMS_URL, PUSH_URL)
U_OPT_OUT, U_MIRROR, U_SMS, U_PUSH = 4, 5, 6, 7

UA_MPP = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
UA_GOOGLE_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
USER_AGENTS = (
    UA_MPP,  # 0
    UA_GOOGLE_PROXY,  # 1
    "Mozilla/5.0 (compatible; Barracuda Sentinel)",  # 2
    "Mozilla/5.0 (compatible; Mimecast URL Protect)",  # 3
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",  # 4
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",  # 5
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",  # 6
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.104 Mobile Safari/537.36",  # 7
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",  # 8
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",  # 9
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",  # 10
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",  # 11
    "SendLensShop/5.3.1 (iPhone; iOS 17.6; Scale/3.00)",  # 12
    "SendLensShop/5.3.1 (Linux; Android 14; Pixel 8)",  # 13
)
UA_SCANNERS = (2, 3)
# (user agent index, weight) mixes
UA_MAIL_OPEN = ((6, 0.30), (10, 0.20), (4, 0.20), (7, 0.15), (11, 0.10), (8, 0.05))
UA_BROWSER = ((4, 0.30), (5, 0.30), (7, 0.25), (8, 0.07), (9, 0.08))
UA_MOBILE = ((5, 0.5), (7, 0.5))
UA_APP = ((12, 0.55), (13, 0.45))

# ---------------------------------------------------------------------------------------------
# Counter-based randomness
# ---------------------------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def _splitmix(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class Hasher:
    """Uniform draws that are a pure function of (seed, stream name, integer index)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._keys: dict[str, np.uint64] = {}

    def _key(self, stream: str) -> np.uint64:
        key = self._keys.get(stream)
        if key is None:
            key = np.uint64(_splitmix(_splitmix(self.seed & _MASK64) ^ zlib.crc32(stream.encode())))
            self._keys[stream] = key
        return key

    def bits(self, stream: str, idx: np.ndarray) -> np.ndarray:
        x = np.asarray(idx).astype(np.uint64)
        x *= _GOLDEN
        x += self._key(stream)
        x ^= x >> np.uint64(30)
        x *= _C1
        x ^= x >> np.uint64(27)
        x *= _C2
        x ^= x >> np.uint64(31)
        return x

    def u(self, stream: str, idx: np.ndarray) -> np.ndarray:
        """Uniform in [0, 1)."""
        return (self.bits(stream, idx) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))

    def exp(self, stream: str, idx: np.ndarray, mean: float) -> np.ndarray:
        return -np.log1p(-self.u(stream, idx)) * mean

    def geometric(self, stream: str, idx: np.ndarray, q: float, cap: int) -> np.ndarray:
        """1 + Geometric: P(n > k) = q**k, capped at ``cap``."""
        n = 1 + np.floor(np.log1p(-self.u(stream, idx)) / np.log(q)).astype(np.int64)
        return np.minimum(n, cap)

    def choice(self, stream: str, idx: np.ndarray, weights: tuple[tuple[int, float], ...]) -> np.ndarray:
        values = np.array([v for v, _ in weights], dtype=np.int64)
        cum = np.cumsum([w for _, w in weights])
        pos = np.searchsorted(cum / cum[-1], self.u(stream, idx), side="right")
        return values[np.minimum(pos, len(values) - 1)]


# ---------------------------------------------------------------------------------------------
# Arrow helpers
# ---------------------------------------------------------------------------------------------


def _fixed_ids(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal ``nums`` as a string array, built from raw buffers."""
    p = np.frombuffer(prefix.encode(), dtype=np.uint8)
    n, w = len(nums), len(p) + width
    buf = np.empty((n, w), dtype=np.uint8)
    buf[:, : len(p)] = p
    v = np.asarray(nums, dtype=np.int64).copy()
    for k in range(w - 1, len(p) - 1, -1):
        buf[:, k] = v % 10 + 48
        v //= 10
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def _hex_tokens(bits: list[np.ndarray]) -> pa.Array:
    """Concatenate the hex digits of several uint64 arrays into one string per row."""
    n = len(bits[0])
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    buf = np.empty((n, 16 * len(bits)), dtype=np.uint8)
    for j, b in enumerate(bits):
        for k in range(16):
            buf[:, 16 * j + k] = digits[((b >> np.uint64(60 - 4 * k)) & np.uint64(15)).astype(np.intp)]
    w = buf.shape[1]
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def _take(values: tuple[str | None, ...] | list[str | None], codes: np.ndarray) -> pa.Array:
    """Dictionary lookup; code -1 (or a None value) gives null."""
    codes = np.asarray(codes, dtype=np.int32)
    dictionary = pa.array(list(values), pa.string())
    return dictionary.take(pa.array(codes, mask=codes < 0))


def _ts(us: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64).view("datetime64[us]"), type=pa.timestamp("us"),
                     mask=null)


def _merge(parts: list[tuple[np.ndarray, pa.Array]], n: int) -> pa.Array:
    """Scatter per-group string arrays back into row order (positions are a partition of 0..n-1)."""
    parts = [(pos, arr) for pos, arr in parts if len(pos)]
    if not parts:
        return pa.array([], pa.string())
    if len(parts) == 1:
        return parts[0][1]
    order = np.concatenate([pos for pos, _ in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return pa.concat_arrays([arr for _, arr in parts]).take(pa.array(inverse))


def _us(dt: datetime) -> int:
    return int((dt - EPOCH).total_seconds()) * SEC + dt.microsecond


# ---------------------------------------------------------------------------------------------
# Delivery plan (small: one row per delivery)
# ---------------------------------------------------------------------------------------------


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
        },
        schema=SCHEMAS["send_log"],
    )


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


class _Writers:
    """One ParquetWriter per kind; writes happen in a background thread (bounded queue)."""

    def __init__(self, out_dir: Path) -> None:
        self.paths = {kind: out_dir / f"{kind}.parquet" for kind in KINDS}
        self.writers = {
            kind: pq.ParquetWriter(path, SCHEMAS[kind], compression="zstd",
                                   use_dictionary=DICTIONARY_COLUMNS[kind] or False)
            for kind, path in self.paths.items()
        }
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is None:
                try:
                    for kind, table in item.items():
                        if table.num_rows:
                            self.writers[kind].write_table(table, row_group_size=table.num_rows)
                except BaseException as exc:  # reported by close()
                    self.error = exc

    def put(self, tables: dict[str, pa.Table]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(tables)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        for w in self.writers.values():
            w.close()
        if self.error is not None:
            raise self.error


def generate(out_dir: Path, messages: int, seed: int = 42, start: datetime | None = None,
             chunk_size: int = 1_000_000, progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write one ``<kind>.parquet`` per kind into ``out_dir``; return {kind: path}."""
    if messages < 1:
        raise ValueError("messages must be at least 1")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    start = start or DEFAULT_START
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_deliveries(messages, seed, start)
    h = Hasher(seed)
    writers = _Writers(out_dir)
    try:
        writers.put({"operators": operators_table(), "deliveries": deliveries_table(plan)})
        n_chunks = -(-messages // chunk_size)
        d_done = 0
        for i in range(n_chunks):
            lo, hi = i * chunk_size, min(messages, (i + 1) * chunk_size)
            # Exclusions of the deliveries whose first message falls in this chunk.
            d_hi = int(np.searchsorted(plan.first, hi, side="left")) if hi < messages else len(plan.ids)
            c = chunk_facts(plan, h, lo, hi)
            tables = {
                "send_log": send_log_table(plan, h, c),
                "feedback": feedback_table(h, c),
                "tracking": tracking_table(h, c),
                "exclusions": exclusions_table(plan, h, d_done, d_hi),
            }
            d_done = d_hi
            writers.put(tables)
            if progress:
                progress(f"chunk {i + 1}/{n_chunks}: messages {lo:,}-{hi - 1:,}; "
                         f"{tables['feedback'].num_rows:,} feedback, {tables['tracking'].num_rows:,} tracking, "
                         f"{tables['exclusions'].num_rows:,} exclusions")
    finally:
        writers.close()
    return dict(writers.paths)
