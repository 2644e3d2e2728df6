{#- Bounce qualification (issue 19, docs/bounce-qualification.md): the engine-specific SQL
    that int_feedback_events and rpt_unqualified_failures use to qualify a failure the feed
    gave no reason for, with the editable rules of seeds/bounce_qualification.csv.

    default__ is DuckDB's SQL (RE2 regular expressions), spark__ Spark SQL's (Java regular
    expressions). The patterns written here keep to what both dialects read the same way
    (no look-around, no back-references, no POSIX classes) and contain no single quote: on
    Spark they are raw literals r'...', so a backslash reaches the regex engine unchanged. -#}

{#- The outcomes the rules qualify (failures; `ignored` never counts, `delivered` is none). -#}
{% macro qualification_failure_outcomes() -%}
    ('hard_bounce', 'soft_bounce', 'expired')
{%- endmacro %}

{#- Computed once though read twice (DuckDB would inline it into each reader): the keyword of
    a CTE `name as {{ qualification_materialized() }} (...)`. Spark has no such hint. -#}
{% macro qualification_materialized() -%}
    {{ return(adapter.dispatch('qualification_materialized', 'sendlens')()) }}
{%- endmacro %}
{% macro default__qualification_materialized() -%}
    materialized
{%- endmacro %}
{% macro spark__qualification_materialized() -%}
{%- endmacro %}

{#- A constant regular expression as an SQL literal. -#}
{% macro qualification_regex_literal(pattern) -%}
    {{ return(adapter.dispatch('qualification_regex_literal', 'sendlens')(pattern)) }}
{%- endmacro %}
{% macro default__qualification_regex_literal(pattern) -%}
    {{ return(sql_literal(pattern)) }}
{%- endmacro %}
{% macro spark__qualification_regex_literal(pattern) -%}
    {%- if "'" in pattern -%}
        {{ exceptions.raise_compiler_error('qualification: a constant pattern may not hold a single quote on Spark (raw literal): ' ~ pattern) }}
    {%- endif -%}
    {{ return('r' ~ sql_literal(pattern)) }}
{%- endmacro %}

{#- Every match of a constant pattern in `value` replaced, case-insensitively. -#}
{% macro qualification_replace(value, pattern, replacement) -%}
    {{ return(adapter.dispatch('qualification_replace', 'sendlens')(value, pattern, replacement)) }}
{%- endmacro %}
{% macro default__qualification_replace(value, pattern, replacement) -%}
    regexp_replace({{ value }}, {{ qualification_regex_literal(pattern) }}, {{ sql_literal(replacement) }}, 'gi')
{%- endmacro %}
{% macro spark__qualification_replace(value, pattern, replacement) -%}
    regexp_replace({{ value }}, {{ qualification_regex_literal('(?i)' ~ pattern) }}, {{ sql_literal(replacement) }})
{%- endmacro %}

{#- Group `group` of the first match of a constant pattern in `value`; null when none. -#}
{% macro qualification_extract(value, pattern, group) -%}
    {{ return(adapter.dispatch('qualification_extract', 'sendlens')(value, pattern, group)) }}
{%- endmacro %}
{% macro default__qualification_extract(value, pattern, group) -%}
    nullif(regexp_extract({{ value }}, {{ qualification_regex_literal(pattern) }}, {{ group | int }}), '')
{%- endmacro %}
{% macro spark__qualification_extract(value, pattern, group) -%}
    nullif(regexp_extract({{ value }}, {{ qualification_regex_literal(pattern) }}, {{ group | int }}), '')
{%- endmacro %}

{#- Does the rule pattern held in a column (a seed value: no literal, so no escaping) match
    anywhere in `value`, case-insensitively? -#}
{% macro qualification_pattern_matches(value, pattern_column) -%}
    {{ return(adapter.dispatch('qualification_pattern_matches', 'sendlens')(value, pattern_column)) }}
{%- endmacro %}
{% macro default__qualification_pattern_matches(value, pattern_column) -%}
    regexp_matches({{ value }}, {{ pattern_column }}, 'i')
{%- endmacro %}
{% macro spark__qualification_pattern_matches(value, pattern_column) -%}
    ({{ value }} rlike concat('(?i)', {{ pattern_column }}))
{%- endmacro %}

{#- A multi-line SMTP reply flattened into one line keeps each line's `550-5.7.1 ` prefix
    (RFC 5321 section 4.2.1), inside the provider's sentences: "... this message is
    550-5.7.1 likely unsolicited mail". Such a repeated prefix (a reply code and an enhanced
    code right after a word or a sentence's end, and a space) is removed, so that the words
    read on; the reply's first code (at the start, or after `smtp;` / `said:`) stays. -#}
{% macro qualification_strip_continuations(value) -%}
    {{ return(adapter.dispatch('qualification_strip_continuations', 'sendlens')(value)) }}
{%- endmacro %}
{% macro qualification_continuation_pattern() -%}
    {{ return('([a-z0-9,.!?)]) [245][0-9][0-9][- ][245][.][0-9][.][0-9]{1,3}( |$)') }}
{%- endmacro %}
{% macro default__qualification_strip_continuations(value) -%}
    regexp_replace({{ value }}, {{ qualification_regex_literal(qualification_continuation_pattern()) }}, '\1\2', 'gi')
{%- endmacro %}
{% macro spark__qualification_strip_continuations(value) -%}
    regexp_replace({{ value }}, {{ qualification_regex_literal('(?i)' ~ qualification_continuation_pattern()) }}, '$1$2')
{%- endmacro %}

{#- The masks, applied in this order (each pattern case-insensitive):
      <address>  an e-mail address, with its angle brackets if any;
      <time>     an ISO date-time or a clock time (hh:mm:ss);
      <id>       a UUID;
      <ip>       an IPv6 or IPv4 address;
      <id>       a token mixing letters and digits at least twice (queue ids, session ids
                 such as Gmail's `p140si105618wmd.67`, hex message ids);
      <n>        a run of five digits or more;
    after runs of white space became one space and the repeated line prefixes of a
    multi-line reply were removed (qualification_strip_continuations). Short codes (550,
    5.1.1, S3150, TSS04, OFR_416) and the provider's own words stay. -#}
{% macro qualification_address_pattern() -%}
    {{ return("<?[a-z0-9._%+=!#~^\\x27-]+@[a-z0-9-]+([.][a-z0-9-]+)+>?") }}
{%- endmacro %}

{% macro qualification_collapse_space(value) -%}
    trim({{ qualification_replace(value, '[ \\t\\r\\n]+', ' ') }})
{%- endmacro %}

{#- A diagnostic with its e-mail addresses masked (and white space collapsed): the sample
    text a report may show. -#}
{% macro qualification_mask_addresses(value) -%}
    {{ qualification_collapse_space(qualification_replace(value, qualification_address_pattern(), '<address>')) }}
{%- endmacro %}

{#- The masked form of a diagnostic: what the diagnostic rules are matched against and what
    rpt_unqualified_failures groups on, so that texts differing only in addresses, ids, IPs,
    times and long numbers qualify (and group) together. -#}
{% macro qualification_mask_diagnostic(value) -%}
    {%- set masks = [
        (qualification_address_pattern(), '<address>'),
        ('[0-9]{4}-[0-9]{2}-[0-9]{2}([t ]?[0-9]{2}:[0-9]{2}(:[0-9]{2})?([.,][0-9]+)?(z|[+-][0-9]{2}:?[0-9]{2})?)?|[0-9]{1,2}:[0-9]{2}:[0-9]{2}([.,][0-9]+)?', '<time>'),
        ('[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>'),
        ('([0-9a-f]{1,4}:){4,7}[0-9a-f]{1,4}|([0-9a-f]{1,4}:){1,7}:([0-9a-f]{1,4}(:[0-9a-f]{1,4}){0,6})?|::[0-9a-f]{1,4}(:[0-9a-f]{1,4}){0,6}', '<ip>'),
        ('[0-9]{1,3}([.][0-9]{1,3}){3}', '<ip>'),
        ('[a-z]*[0-9]+[a-z]+[0-9]+[a-z0-9]*([.][0-9]+)?', '<id>'),
        ('[0-9]{5,}', '<n>'),
    ] -%}
    {%- set ns = namespace(sql=qualification_strip_continuations(qualification_collapse_space(value))) -%}
    {%- for pattern, replacement in masks -%}
        {%- set ns.sql = qualification_replace(ns.sql, pattern, replacement) -%}
    {%- endfor -%}
    {{ qualification_collapse_space(ns.sql) }}
{%- endmacro %}

{#- The RFC 3463 enhanced status code of a failure (class 4 or 5: `5.1.1`, `4.7.28`): the
    first one standing alone in the diagnostic (not part of an IP address or a longer dotted
    number), else the smtp_code column when it holds one (some feeds put the status there). -#}
{% macro qualification_enhanced_code(diagnostic, smtp_code) -%}
    coalesce(
        {{ qualification_extract(diagnostic, '(^|[^0-9.])([45][.][0-9][.][0-9]{1,3})($|[^0-9.]|[.]($|[^0-9]))', 2) }},
        {{ qualification_extract(smtp_code, '^[ ]*([45][.][0-9][.][0-9]{1,3})[ ]*$', 1) }}
    )
{%- endmacro %}

{#- The basic SMTP reply code (RFC 5321: `550`): the smtp_code column when it holds one,
    else the code a diagnostic starts with (after a DSN type such as `smtp;`). -#}
{% macro qualification_reply_code(diagnostic, smtp_code) -%}
    coalesce(
        {{ qualification_extract(smtp_code, '^[ ]*([245][0-9][0-9])[ ]*$', 1) }},
        {{ qualification_extract(diagnostic, '^[ ]*([a-zA-Z0-9-]+;[ ]*)?([245][0-9][0-9])([ -]|$)', 2) }}
    )
{%- endmacro %}

{#- Does a constant pattern match anywhere in `value`, case-insensitively? -#}
{% macro qualification_matches(value, pattern) -%}
    {{ return(adapter.dispatch('qualification_matches', 'sendlens')(value, pattern)) }}
{%- endmacro %}
{% macro default__qualification_matches(value, pattern) -%}
    regexp_matches({{ value }}, {{ qualification_regex_literal(pattern) }}, 'i')
{%- endmacro %}
{% macro spark__qualification_matches(value, pattern) -%}
    ({{ value }} rlike {{ qualification_regex_literal('(?i)' ~ pattern) }})
{%- endmacro %}

{#- The rules of the bounce_qualification seed as loaded in the warehouse, in the order they
    are tried: (rule_id, match_on, pattern, outcomes) by priority then rule_id, match_on
    lower-cased, the pattern trimmed, outcomes a list (empty for `any`: every failure outcome). Read when the model compiles (the seed is loaded before it,
    being its parent), so that each pattern becomes a constant the engine compiles once: a
    pattern held in a column is compiled again for every row (about 30 microseconds each on
    DuckDB, seconds for a few thousand texts). The seed's relation comes from the graph; a
    dbt unit test has no graph and its ref() names its fixtures, so there the loaded seed is
    read where the project puts every seed (dbt_project.yml: seeds +schema reference; a unit
    test runs against a built warehouse). No rules at parse time, or before the seed was
    ever loaded. -#}
{% macro qualification_rule_rows() -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set relation = none -%}
    {%- if model.resource_type == 'unit_test' -%}
        {%- set relation = adapter.get_relation(database=target.database,
                                                schema=generate_schema_name('reference', none),
                                                identifier='bounce_qualification') -%}
    {%- else -%}
        {%- set seeds = [] -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'seed' and node.name == 'bounce_qualification' -%}
            {%- do seeds.append(node) -%}
        {%- endfor -%}
        {%- if not seeds -%}
            {{ exceptions.raise_compiler_error('bounce qualification: no seed named bounce_qualification') }}
        {%- endif -%}
        {%- set relation = adapter.get_relation(database=seeds[0].database, schema=seeds[0].schema,
                                                identifier=seeds[0].alias or seeds[0].name) -%}
    {%- endif -%}
    {%- if relation is none -%}
        {{ log('bounce qualification: the seed bounce_qualification is not loaded; no rule applies', info=true) }}
        {{ return([]) }}
    {%- endif -%}
    {%- set found = run_query('select rule_id, lower(trim(match_on)), trim(pattern), lower(trim(outcomes)) from '
                              ~ relation ~ ' order by priority, rule_id') -%}
    {%- set rows = [] -%}
    {%- for row in found.rows -%}
        {%- set outcomes = (row[3] or 'any').split() -%}
        {%- do rows.append((row[0], row[1], row[2], [] if outcomes == ['any'] else outcomes)) -%}
    {%- endfor -%}
    {{ return(rows) }}
{%- endmacro %}

{#- The rule_id of the first rule that matches (null when none): one CASE over the rules in
    priority order, each a comparison of the enhanced code (exact, or a prefix ending with a
    dot), of the reply code, or a constant regular expression on the masked diagnostic, and,
    for a rule limited to some outcomes, of the outcome. A comparison with a null is not
    true, so a rule needing what a failure lacks never applies. -#}
{% macro qualification_first_rule(diagnostic, enhanced_code, reply_code, outcome) -%}
    {%- set rules = qualification_rule_rows() -%}
    {%- set branches = [] -%}
    {%- for rule_id, match_on, pattern, outcomes in rules if pattern -%}
        {%- if match_on == 'enhanced_code' and pattern.endswith('.') -%}
            {%- set condition = 'substr(' ~ enhanced_code ~ ', 1, ' ~ (pattern | length) ~ ') = ' ~ sql_literal(pattern) -%}
        {%- elif match_on == 'enhanced_code' -%}
            {%- set condition = enhanced_code ~ ' = ' ~ sql_literal(pattern) -%}
        {%- elif match_on == 'smtp_code' -%}
            {%- set condition = reply_code ~ ' = ' ~ sql_literal(pattern) -%}
        {%- elif match_on == 'diagnostic' -%}
            {%- set condition = qualification_matches(diagnostic, pattern) -%}
        {%- else -%}
            {%- set condition = none -%}
        {%- endif -%}
        {%- if condition is not none and outcomes -%}
            {%- set listed = [] -%}
            {%- for o in outcomes -%}{%- do listed.append(sql_literal(o)) -%}{%- endfor -%}
            {%- set condition = outcome ~ ' in (' ~ (listed | join(', ')) ~ ') and ' ~ condition -%}
        {%- endif -%}
        {%- if condition is not none -%}
            {%- do branches.append((condition, rule_id)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if branches -%}
    case
        {%- for condition, rule_id in branches %}
        when {{ condition }} then {{ sql_literal(rule_id) }}
        {%- endfor %}
    end
    {%- else -%}
    cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{#- Test of the rule table (seeds/_seeds.yml): each pattern has the shape its match_on reads
    (an enhanced code `5.1.1` or a prefix `5.7.` / `5.`; a reply code `550`; a non-empty
    regular expression), outcomes is `any` or lists failure outcomes (hard_bounce,
    soft_bounce, expired) separated by spaces, every diagnostic pattern compiles (an invalid one makes the engine
    fail this test with its own error naming the pattern), and no value holds a backslash or
    a single quote: dbt-spark's session loads a seed as SQL text without escaping them, so
    such a rule would read differently (or not load) on Spark. Returns the bad rows. -#}
{% test qualification_rules_valid(model) %}
with rules as (
    select
        rule_id,
        lower(trim(match_on)) as match_on,
        trim(pattern) as pattern,
        lower(trim(outcomes)) as outcomes,
        concat(coalesce(rule_id, ''), coalesce(match_on, ''), coalesce(pattern, ''), coalesce(outcomes, ''),
               coalesce(failure_type, ''), coalesce(failure_reason, ''), coalesce(source, '')) as all_text
    from {{ model }}
)

select rule_id, match_on, pattern, outcomes
from rules
where pattern is null
    or pattern = ''
    or outcomes is null
    or (outcomes <> 'any'
        and {{ qualification_extract('outcomes', '^((hard_bounce|soft_bounce|expired)( +|$))+$', 1) }} is null)
    or position(chr(92) in all_text) > 0
    or position(chr(39) in all_text) > 0
    or (match_on = 'enhanced_code'
        and {{ qualification_extract('pattern', '^([45][.]([0-9][.]([0-9]{1,3})?)?)$', 1) }} is null)
    or (match_on = 'smtp_code'
        and {{ qualification_extract('pattern', '^([245][0-9][0-9])$', 1) }} is null)
    or (match_on = 'diagnostic'
        and {{ qualification_pattern_matches("''", 'pattern') }} is null)
{% endtest %}
