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

{#- Kept models: a model kept between builds states its key once, on its first line,

        {{ kept_by('message_id') }}

    and filters its inputs with {{ kept_rows() }} (or {{ kept_rows('column') }} when the key is
    in another column there). That one declaration supplies the materialisation, the pre-hook
    and the input filter, and is recorded as the model's meta (`kept_by`, `kept_rows`) in dbt's
    manifest, where the test override below and sendlens/kept.py read it. `rows` says which rows
    an incremental build recomputes:
      changed   the keys of the key's change set (int_changed_messages, int_changed_addresses,
                int_changed_deliveries);
      report    the same while as_of stays put, every key when as_of moved (their as_of-dependent
                columns change for every key): the delivery reports and the findings;
      snapshot  as `report`, and the one delivery a `compute-stats --delivery` refreshes
                (dash_delivery_kpis);
      landed    the keys of the rows landed since the published build, ranked with their kept
                row (the deduplicating staging models; they read the new batches only).
    A kept model runs after int_build_changes, i.e. after every change set was taken from the
    published build (the change sets read it through previous()). See ARCHITECTURE.md. -#}

{#- The change set of each key a kept model may be kept by. -#}
{% macro kept_change_sets() -%}
    {{ return({'message_id': 'int_changed_messages', 'address': 'int_changed_addresses',
               'delivery_id': 'int_changed_deliveries'}) }}
{%- endmacro %}

{% macro kept_row_modes() -%}
    {{ return(['changed', 'report', 'snapshot', 'landed']) }}
{%- endmacro %}

{% macro kept_by(key, rows='changed') -%}
    {%- if rows not in kept_row_modes() -%}
        {{ exceptions.raise_compiler_error('kept_by: rows is ' ~ rows ~ '; expected one of ' ~ (kept_row_modes() | join(', '))) }}
    {%- endif -%}
    {%- set meta = {'kept_by': key, 'kept_rows': rows} -%}
    {%- if rows == 'landed' -%}
        {%- do config({'materialized': staging_materialization(), 'unique_key': key,
                       'incremental_strategy': 'delete+insert', 'on_schema_change': 'append_new_columns',
                       'meta': meta}) -%}
    {%- else -%}
        {%- if key not in kept_change_sets() -%}
            {{ exceptions.raise_compiler_error('kept_by: no change set for key ' ~ key ~ '; expected one of ' ~ (kept_change_sets().keys() | list | join(', '))) }}
        {%- endif -%}
        {#- the lineage: after every change set was taken, filtered by its key's (a unit test
            is a full build: it reads no change set, so it needs no fixture for one) -#}
        {%- if model.resource_type != 'unit_test' -%}
            {%- set _ = ref('int_build_changes') -%}
            {%- set _ = ref(kept_change_sets()[key]) -%}
        {%- endif -%}
        {%- set cfg = {'materialized': kept_materialization(), 'incremental_strategy': 'append',
                       'on_schema_change': 'append_new_columns', 'pre_hook': '{{ kept_pre_hook() }}',
                       'meta': meta} -%}
        {%- if rows == 'snapshot' -%}
            {%- do cfg.update({'incremental_strategy': 'delete+insert', 'unique_key': key}) -%}
        {%- endif -%}
        {%- do config(cfg) -%}
    {%- endif -%}
{%- endmacro %}

{#- The model's kept_by declaration (at run time). -#}
{% macro kept_declaration() -%}
    {%- set meta = config.get('meta') or {} -%}
    {%- if 'kept_by' not in meta -%}
        {{ exceptions.raise_compiler_error(model.name ~ ' uses kept_rows() without {{ kept_by(key) }}') }}
    {%- endif -%}
    {{ return(meta) }}
{%- endmacro %}

{#- Is this run recomputing the whole of the model (rows report/snapshot when as_of moved)? -#}
{% macro kept_whole(rows) -%}
    {{ return(rows in ('report', 'snapshot') and not delivery_reports_kept()) }}
{%- endmacro %}

{#- Pre-hook of a kept model (from kept_by): drop the rows of the keys about to be recomputed
    (all of them, also those that now produce no row); the model then appends them. -#}
{% macro kept_pre_hook() -%}
    {%- if not execute -%}{{ return('select 1') }}{%- endif -%}
    {%- set meta = kept_declaration() -%}
    {%- if not is_incremental() or (meta.kept_rows == 'snapshot' and build_var('stats_delivery_id')) -%}
    select 1
    {%- elif kept_whole(meta.kept_rows) -%}
    delete from {{ this }}
    {%- else -%}
    {%- set key = meta.kept_by -%}
    delete from {{ this }} where {{ key }} in (select {{ key }} from {{ ref(kept_change_sets()[key]) }})
    {%- endif -%}
{%- endmacro %}

{#- The input filter of a kept model: the rows of the keys it recomputes (`column` holds the key
    in that input), everything on a full build or when it recomputes every key. -#}
{% macro kept_rows(column=none) -%}
    {#- parsing, and unit tests (full builds, with the model's inputs as fixtures): everything -#}
    {%- if not execute or model.resource_type == 'unit_test' -%}{{ return('1 = 1') }}{%- endif -%}
    {%- set meta = kept_declaration() -%}
    {%- set key = meta.kept_by -%}
    {%- if meta.kept_rows == 'landed' -%}
        {{ exceptions.raise_compiler_error(model.name ~ ': a landed model reads the new batches (staging_source), not kept_rows()') }}
    {%- elif is_incremental() and meta.kept_rows == 'snapshot' and build_var('stats_delivery_id') -%}
    {{ column or key }} = {{ sql_literal(build_var('stats_delivery_id')) }}
    {%- elif is_incremental() and not kept_whole(meta.kept_rows) -%}
    {{ column or key }} in (select {{ key }} from {{ ref(kept_change_sets()[key]) }})
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- A relation as the published build left it, read by a change set before this build
    recomputes it (an incremental build starts from a copy of the published warehouse). The one
    explicit read of the previous build: no lineage edge (the model read runs after
    int_build_changes), and never a hard-coded schema. -#}
{% macro previous(name) -%}
    {%- if not execute -%}{{ return(name) }}{%- endif -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name -%}
        {{ return(api.Relation.create(database=target.database, schema=node.schema, identifier=node.alias or node.name)) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('previous(): no model named ' ~ name) }}
{%- endmacro %}

{#- On a model that is not kept but whose published version a change set reads: it is rebuilt
    only after every change set was taken. -#}
{% macro rebuilt_after_changes() -%}
    {%- set _ = ref('int_build_changes') -%}
{%- endmacro %}

{#- Which landed version of a delivery wins (first): canonical over ESP-derived, then the
    newest batch, then the last row. The one home of that order (stg_deliveries, and the change
    set comparing a delivery's winner before and after a batch). -#}
{% macro delivery_version_order() -%}
    case when _origin = 'canonical' then 0 else 1 end, _batch_id desc, _row desc
{%- endmacro %}

{#- The batches landed since the published build (their files, for one kind), always with
    the kind's empty schema batch so the scan has a schema when nothing new landed. -#}
{% macro lake_scan_new(kind) -%}
    {%- set _ = source('lake', kind) -%}  {#- the lineage, as in lake_scan -#}
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
    rule): on an incremental build, a test of a kept model that recomputes per key (kept_rows
    `changed`, or `landed`) sees only the recomputed rows, and so does a test of a view that
    projects such models (one key among its kept parents). The kept rows passed these tests
    when they were built, and a key is always recomputed whole, so keys and intervals unique
    within the recomputed keys are unique table-wide. The reports (kept_rows `report`,
    `snapshot`) are small and tested whole. Read from the kept_by declarations, not from names. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- if is_incremental_build() -%}
        {%- set key = kept_test_key(relation) -%}
        {%- if key -%}
            {%- set change_set = previous(kept_change_sets()[key]) -%}
            {%- do conditions.append(key ~ ' in (select ' ~ key ~ ' from ' ~ change_set ~ ')') -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ (conditions | join(' and ')) ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The key a test of `relation` is restricted to on an incremental build (none: tested whole). -#}
{% macro kept_test_key(relation) -%}
    {%- set found = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model'
            and (node.alias or node.name) == relation.identifier and node.schema == relation.schema -%}
        {%- do found.append(node) -%}
    {%- endfor -%}
    {%- if not found -%}{{ return(none) }}{%- endif -%}
    {{ return(kept_node_test_key(found[0])) }}
{%- endmacro %}

{% macro kept_node_test_key(node) -%}
    {%- set meta = node.config.meta or {} -%}
    {%- if meta.get('kept_rows') == 'changed' -%}
        {{ return(meta.kept_by) }}
    {%- elif meta.get('kept_rows') == 'landed' -%}
        {#- every landed row's message is in int_changed_messages -#}
        {{ return('message_id') }}
    {%- elif node.config.materialized == 'view' and not meta.get('kept_by') -%}
        {%- set keys = [] -%}
        {%- for parent in node.depends_on.nodes if parent in graph.nodes -%}
            {%- set parent_meta = graph.nodes[parent].config.meta or {} -%}
            {%- if parent_meta.get('kept_rows') == 'changed' and parent_meta.kept_by not in keys -%}
                {%- do keys.append(parent_meta.kept_by) -%}
            {%- endif -%}
        {%- endfor -%}
        {{ return(keys[0] if keys | length == 1 else none) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- The delivery-level reports (one row per reporting delivery, mode, hour, reason, domain) are
    kept between builds and recomputed per reporting delivery (int_changed_deliveries) when
    the build is incremental and as_of did not move; when it moved they are rebuilt whole
    (their as_of-dependent columns change for every delivery). -#}
{% macro delivery_reports_kept() -%}
    {{ return(is_incremental_build() and build_var('as_of_moved_from') == '') }}
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
{% macro kept_staging_rows() -%}
    {%- if execute and is_incremental() -%}
    {%- set key = kept_declaration().kept_by -%}
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
