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

Modules, one job each (the package imports ``ingest.contracts`` for the landing contract and
nothing else of the project): ``routes`` (constants and route tables), ``hashing``
(counter-based randomness, Arrow column builders, schemas), ``plan`` (deliveries and
operators), ``messages`` (per-message facts, send_log, exclusions), ``events`` (feedback,
tracking) and ``writer`` (the chunked Parquet driver ``generate``).
"""

from sendlens.sample.routes import DEFAULT_START, UA_MPP
from sendlens.sample.writer import generate

__all__ = ["DEFAULT_START", "UA_MPP", "generate"]
