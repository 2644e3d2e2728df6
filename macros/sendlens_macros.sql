{#- Schema names as configured (staging, intermediate, marts, audit), not prefixed. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}

{#- A per-build value: as_of, stats_at, stats_delivery_id, build_mode, as_of_moved_from,
    new_batch_files (sendlens/config.py PER_BUILD_VARS). sendlens passes them in the
    environment (SENDLENS_BUILD_VARS, JSON), read only while dbt executes: dbt re-parses the
    whole project whenever --vars change, and parses partially when they stay the same. At
    parse time, and when dbt runs by hand, the value is the dbt var's. Nothing that shapes
    the graph or a config may depend on these (see DECISIONS.md). -#}
{% macro build_var(name, default='') -%}
    {%- set given = fromjson(env_var('SENDLENS_BUILD_VARS', '{}')) if execute else {} -%}
    {{ return(given[name] if name in given else var(name, default)) }}
{%- endmacro %}

{#- A value as an SQL string literal: the dbt twin of sendlens/core/sql.py `literal`, the one
    way a value (a var, an id, a path) becomes SQL text in a model. -#}
{% macro sql_literal(value) -%}
    {%- set text = value | string -%}
    {%- if '\x00' in text -%}{{ exceptions.raise_compiler_error('a NUL character cannot be part of an SQL value') }}{%- endif -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}

{#- A path whose glob characters match only themselves in DuckDB's readers (the twin of
    sendlens/core/sql.py `glob_escape`: each of [ * ? as a one-character class). -#}
{% macro glob_escape(text) -%}
    {{ return(text | string | replace('[', '[[]') | replace('*', '[*]') | replace('?', '[?]')) }}
{%- endmacro %}

{#- The literal of a glob under the lake: the lake's path is a value (escaped), `pattern` is
    the project's own (its wildcards stay wildcards). -#}
{% macro lake_glob(pattern) -%}
    {{ return(sql_literal(glob_escape(var("lake_root")) ~ pattern)) }}
{%- endmacro %}

{#- The build's knowledge instant (`sendlens build --as-of`). -#}
{% macro as_of() -%}
    cast({{ sql_literal(build_var("as_of")) }} as timestamp)
{%- endmacro %}

{#- The dashboard snapshot instant (`compute-stats --at`), the build's as_of by default. -#}
{% macro stats_at() -%}
    cast({{ sql_literal(build_var("stats_at") or build_var("as_of")) }} as timestamp)
{%- endmacro %}

{#- A landed kind: every batch's Parquet under the lake. DuckDB-only syntax lives here; the
    Spark implementations of the dispatched macros are in spark.sql (spark__ wins over
    default__ on Spark; default__ stays for other engines). The source() call is the lineage:
    it makes the calling model depend on the kind's source (models/staging/_sources.yml). -#}
{% macro lake_scan(kind) -%}
    {%- set _ = source('lake', kind) -%}
    {{ return(adapter.dispatch('lake_scan', 'sendlens')(kind)) }}
{%- endmacro %}
{#- Canonical batches, plus the rows mapped from email-service-provider exports. -#}
{% macro duckdb__lake_scan(kind) -%}
    {%- if kind in ('deliveries', 'send_log', 'feedback', 'tracking') -%}
    read_parquet([{{ lake_glob('/' ~ kind ~ '/batch_id=*/data/*.parquet') }}, {{ lake_glob('/esp/batch_id=*/' ~ kind ~ '/*.parquet') }}], hive_partitioning = false, union_by_name = true)
    {%- else -%}
    read_parquet({{ lake_glob('/' ~ kind ~ '/batch_id=*/data/*.parquet') }}, hive_partitioning = false, union_by_name = true)
    {%- endif -%}
{%- endmacro %}
{% macro default__lake_scan(kind) -%}
    {%- if kind in ('deliveries', 'send_log', 'feedback', 'tracking') -%}
    (select * from parquet.`{{ var("lake_root") }}/{{ kind }}/batch_id=*/data/*.parquet`
     union all select * from parquet.`{{ var("lake_root") }}/esp/batch_id=*/{{ kind }}/*.parquet`)
    {%- else -%}
    parquet.`{{ var("lake_root") }}/{{ kind }}/batch_id=*/data/*.parquet`
    {%- endif -%}
{%- endmacro %}

{% macro lake_audit_scan(file_name) -%}
    {{ return(adapter.dispatch('lake_audit_scan', 'sendlens')(file_name)) }}
{%- endmacro %}
{% macro duckdb__lake_audit_scan(file_name) -%}
    read_parquet({{ lake_glob('/*/batch_id=*/' ~ file_name) }}, hive_partitioning = false, union_by_name = true)
{%- endmacro %}
{% macro default__lake_audit_scan(file_name) -%}
    parquet.`{{ var("lake_root") }}/*/batch_id=*/{{ file_name }}`
{%- endmacro %}

{#- ts + a (fractional) number of seconds. -#}
{% macro add_seconds(ts, seconds) -%}
    {{ return(adapter.dispatch('add_seconds', 'sendlens')(ts, seconds)) }}
{%- endmacro %}
{% macro duckdb__add_seconds(ts, seconds) -%}
    ({{ ts }} + to_microseconds(cast(({{ seconds }}) * 1000000.0 as bigint)))
{%- endmacro %}
{% macro default__add_seconds(ts, seconds) -%}
    timestamp_micros(unix_micros({{ ts }}) + cast(({{ seconds }}) * 1000000.0 as bigint))
{%- endmacro %}

{#- Seconds from a to b, fractional. -#}
{% macro seconds_between(a, b) -%}
    {{ return(adapter.dispatch('seconds_between', 'sendlens')(a, b)) }}
{%- endmacro %}
{% macro duckdb__seconds_between(a, b) -%}
    ((epoch_us({{ b }}) - epoch_us({{ a }})) / 1000000.0)
{%- endmacro %}
{% macro default__seconds_between(a, b) -%}
    ((unix_micros({{ b }}) - unix_micros({{ a }})) / 1000000.0)
{%- endmacro %}

{#- Case-sensitive regular-expression test. -#}
{% macro regex_match(value, pattern) -%}
    {{ return(adapter.dispatch('regex_match', 'sendlens')(value, pattern)) }}
{%- endmacro %}
{% macro duckdb__regex_match(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}
{% macro default__regex_match(value, pattern) -%}
    ({{ value }} rlike {{ pattern }})
{%- endmacro %}

{#- count / denominator as a fraction; 0 when the denominator is 0 (see DECISIONS.md). -#}
{% macro safe_rate(numerator, denominator) -%}
    case when ({{ denominator }}) > 0 then cast({{ numerator }} as double) / ({{ denominator }}) else 0.0 end
{%- endmacro %}

{#- Does a list column hold a value. -#}
{% macro list_has(list_col, value) -%}
    {{ return(adapter.dispatch('list_has', 'sendlens')(list_col, value)) }}
{%- endmacro %}
{% macro duckdb__list_has(list_col, value) -%}
    coalesce(list_contains({{ list_col }}, {{ value }}), false)
{%- endmacro %}
{% macro default__list_has(list_col, value) -%}
    coalesce(array_contains({{ list_col }}, {{ value }}), false)
{%- endmacro %}

{#- The delivery rules every model takes from one place (SPEC section 2). A delivery's own
    reporting mode: with the Email Feedback Service or standard. -#}
{% macro own_reporting_mode(is_efs_enabled) -%}
    case when coalesce({{ is_efs_enabled }}, false) then 'efs' else 'standard' end
{%- endmacro %}

{#- The end of a delivery's validity period: contact date + min(validity_hours, 84) for email
    (the MTA retries at most 3.5 days), contact date + validity_hours for SMS and push. -#}
{% macro validity_end_at(channel, contact_at, validity_hours) -%}
    case
        when {{ channel }} = 'email'
            then {{ add_seconds(contact_at, 'least(' ~ validity_hours ~ ', 84) * 3600') }}
        else {{ add_seconds(contact_at, validity_hours ~ ' * 3600') }}
    end
{%- endmacro %}

{#- The calendar date, in the reporting time zone (setting reporting_time_zone, an IANA zone
    checked when the settings load), of a timestamp stored as naive UTC: the day a daily mart
    puts it on. The zone's own rules decide (daylight saving time included). -#}
{% macro reporting_date(ts) -%}
    {{ return(adapter.dispatch('reporting_date', 'sendlens')(ts, sql_literal(var('reporting_time_zone')))) }}
{%- endmacro %}
{% macro duckdb__reporting_date(ts, zone) -%}
    cast(({{ ts }} at time zone 'UTC') at time zone {{ zone }} as date)
{%- endmacro %}
{% macro default__reporting_date(ts, zone) -%}
    to_date(from_utc_timestamp({{ ts }}, {{ zone }}))
{%- endmacro %}
