"""Constants of the sample: time units, channels, delivery mix, operators, failure profiles,
routes (email domains and the sms/push gateways with their bounce rates), tracking rates, URLs
and user agents. Pure data: no randomness, no Arrow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from sendlens.ingest.contracts import OUTCOMES, TRACKING_TYPES

DEFAULT_START = datetime(2026, 1, 5, 8, 0, 0)
EPOCH = datetime(1970, 1, 1)

MS = 1_000
SEC = 1_000_000
MINUTE = 60 * SEC
HOUR = 3600 * SEC
DAY = 24 * HOUR

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
