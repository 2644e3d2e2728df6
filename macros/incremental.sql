{#- Incremental builds (sendlens/incremental.py decides the mode; see DECISIONS.md).

    A per-message model is recomputed, on an incremental build, only for the messages in
    int_changed_messages; its other rows are kept from the published warehouse the build
    started from. On Spark, and on a full build, every model is rebuilt whole. -#}

{% macro is_incremental_build() -%}
    {{ return(build_var('build_mode', 'full') == 'incremental' and target.type != 'spark') }}
{%- endmacro %}

{#- The materialization of a model kept between builds (a table on Spark). -#}
{% macro kept_materialization() -%}
    {{ return('table' if target.type == 'spark' else 'incremental') }}
{%- endmacro %}

{#- Pre-hook of a kept model: drop the rows of the keys about to be recomputed (all of them,
    also those that now produce no row). The model then appends the recomputed rows.
    `whole`: this run recomputes every key (the delivery reports when as_of moved): drop all. -#}
{% macro delete_changed(key, changed_model, whole=false) -%}
    {%- if is_incremental() and whole -%}
    delete from {{ this }}
    {%- elif is_incremental() -%}
    delete from {{ this }} where {{ key }} in (select {{ key }} from {{ ref(changed_model) }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- A filter to the changed keys on incremental runs (nothing on full ones, nor with `whole`). -#}
{% macro only_changed(key, changed_model, column=none, whole=false) -%}
    {%- if is_incremental() and not whole -%}
    {{ column or key }} in (select {{ key }} from {{ ref(changed_model) }})
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- For tests on large kept tables: test the recomputed rows only on incremental builds (the
    kept rows passed when they were built; a key is recomputed whole, so uniqueness and
    intervals within a key hold table-wide when they hold for the recomputed keys). -#}
{% macro changed_rows_filter(key='message_id', changed='int_changed_messages') -%}
    {%- if is_incremental_build() -%}
    {{ key }} in (select {{ key }} from intermediate.{{ changed }})
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- The batches landed since the published build (their files, for one kind), always with
    the kind's empty schema batch so the scan has a schema when nothing new landed. -#}
{% macro lake_scan_new(kind) -%}
    {%- set files = build_var('new_batch_files', {}).get(kind, []) -%}
    read_parquet([
        {{ lake_glob('/' ~ kind ~ '/batch_id=0-empty/data/*.parquet') }}
        {%- for f in files %}, {{ sql_literal(f) }}{% endfor %}
    ], hive_partitioning = false, union_by_name = true)
{%- endmacro %}

{#- The as_of window an incremental build moves across: (as_of_moved_from, as_of]. -#}
{% macro in_moved_window(ts) -%}
    {%- if build_var('as_of_moved_from') -%}
    ({{ ts }} > cast({{ sql_literal(build_var("as_of_moved_from")) }} as timestamp) and {{ ts }} <= {{ as_of() }})
    {%- else -%}
    false
    {%- endif -%}
{%- endmacro %}

{#- A public mart that only projects a kept table at as_of: a view on DuckDB (nothing to
    store twice), a table on Spark (its marts are published as Parquet). -#}
{% macro projection_materialization() -%}
    {{ return('table' if target.type == 'spark' else 'view') }}
{%- endmacro %}

{#- dbt's test relation (overrides the built-in get_where_subquery, same behaviour plus one
    rule): on an incremental build, a test of a large per-message (per-address) model sees only
    the recomputed messages (addresses). The kept rows passed these tests when they were built, and a message
    is always recomputed whole, so keys and intervals unique within the recomputed messages
    are unique table-wide. Aggregates (the reports) are rebuilt whole and tested whole. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set per_message = [
        'stg_send_log', 'stg_feedback', 'stg_tracking',
        'int_messages', 'int_feedback_events', 'int_message_status_timeline', 'int_tracking_events',
        'int_message_engagement', 'int_profile_message_activity', 'int_message_status_current',
        'int_profile_history', 'int_reporting_messages',
        'fct_message_status', 'fct_message_status_history', 'fct_profile_history'] -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- set per_address = [
        'int_quarantine_addresses', 'int_quarantine_events', 'int_quarantine_states',
        'int_address_quarantine', 'fct_address_quarantine_history', 'dim_address_quarantine'] -%}
    {%- if is_incremental_build() and relation.identifier in per_message -%}
        {%- do conditions.append('message_id in (select message_id from ' ~ relation.database ~ '.intermediate.int_changed_messages)') -%}
    {%- elif is_incremental_build() and relation.identifier in per_address -%}
        {%- do conditions.append('address in (select address from ' ~ relation.database ~ '.intermediate.int_changed_addresses)') -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ (conditions | join(' and ')) ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The delivery-level reports (one row per reporting delivery, mode, hour, reason, domain) are
    kept between builds and recomputed per reporting delivery (int_changed_deliveries) when
    the build is incremental and as_of did not move; when it moved they are rebuilt whole
    (their as_of-dependent columns change for every delivery). -#}
{% macro delivery_reports_kept() -%}
    {{ return(is_incremental_build() and build_var('as_of_moved_from') == '') }}
{%- endmacro %}

{#- The pre-hook and filters of the reports kept only while as_of stays put (the delivery
    reports, rpt_data_quality_findings): per changed key when delivery_reports_kept(), every
    key otherwise. Decided while dbt executes (a config such as full_refresh is fixed when
    dbt parses, and dbt parses once for many builds). -#}
{% macro report_delete_changed(key, changed_model) -%}
    {{ return(delete_changed(key, changed_model, whole=not delivery_reports_kept())) }}
{%- endmacro %}

{% macro report_only_changed(key, changed_model, column=none) -%}
    {{ return(only_changed(key, changed_model, column, whole=not delivery_reports_kept())) }}
{%- endmacro %}

{#- The deduplicating staging models (send_log, feedback, tracking) are kept between builds on
    DuckDB, keyed by their natural key: an incremental build reads only the new batches, ranks
    their rows together with the kept winner of the same key and replaces it (delete+insert).
    Picking the first (or newest) copy is associative, so the winner of (earlier batches + new)
    equals the winner of (kept winner + new); counts of copies add up. On Spark they stay views. -#}
{% macro staging_materialization() -%}
    {{ return('view' if target.type == 'spark' else 'incremental') }}
{%- endmacro %}

{#- The rows a deduplicating staging model ranks: the new batches on an incremental run, the
    whole lake otherwise. -#}
{% macro staging_source(kind) -%}
    {%- if is_incremental() -%}
    {{ lake_scan_new(kind) }}
    {%- else -%}
    {{ lake_scan(kind) }}
    {%- endif -%}
{%- endmacro %}

{#- On an incremental run, the kept rows of the keys the new rows touch, to rank with them
    (the kept table's columns are the model's `renamed` columns, in the same order). -#}
{% macro kept_staging_rows(key) -%}
    {%- if is_incremental() -%}
    union all
    select * from {{ this }}
    where {{ key }} in (select {{ key }} from renamed)
    {%- endif -%}
{%- endmacro %}

{#- on-run-end (dbt_project.yml): record in the build's warehouse what it was built with, the
    plan sendlens/incremental.py made (the per-build value `build_state`; read back by
    read_state). dbt writes it itself, before its connection's closing checkpoint: a second
    connection paid another checkpoint of the whole file (about 1.3 s at 10M messages). -#}
{% macro record_build_state() -%}
    {%- set state = build_var('build_state', {}) -%}
    {%- if execute and state and target.type == 'duckdb' and flags.WHICH == 'build' -%}
    create or replace table {{ target.database }}.audit.build_state as
    select
        cast({{ sql_literal(state.fingerprint) }} as {{ dbt.type_string() }}) as fingerprint,
        cast({{ sql_literal(state.as_of) }} as timestamp) as as_of,
        cast({{ sql_literal(state.mode) }} as {{ dbt.type_string() }}) as mode,
        cast({{ sql_literal(state.reason) }} as {{ dbt.type_string() }}) as reason,
        cast({{ state.new_batches | int }} as integer) as new_batches
    {%- endif -%}
{%- endmacro %}
