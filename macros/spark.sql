{#- Apache Spark implementations of the dispatched macros (dbt-spark; `sendlens build --engine
    spark`). DuckDB's are in sendlens_macros.sql. Spark SQL differs from DuckDB here in:
    string literals (a backslash escapes: regular expressions are raw literals r'...'), reading
    Parquet (a path in backticks; the lake's batches are merged by name through the profile's
    spark.sql.parquet.mergeSchema), and timestamp arithmetic (timestampadd / timestampdiff). -#}

{#- Every batch of a kind, and for the kinds email-service-provider exports map to, their rows
    too: one scan over both folders (a Hadoop glob alternation), so columns match by name. -#}
{% macro spark__lake_scan(kind) -%}
    {%- if kind in ('deliveries', 'send_log', 'feedback', 'tracking') -%}
    parquet.`{{ var("lake_root") }}/{{ '{' }}{{ kind }}/batch_id=*/data,esp/batch_id=*/{{ kind }}{{ '}' }}/*.parquet`
    {%- else -%}
    parquet.`{{ var("lake_root") }}/{{ kind }}/batch_id=*/data/*.parquet`
    {%- endif -%}
{%- endmacro %}

{% macro spark__lake_audit_scan(file_name) -%}
    parquet.`{{ var("lake_root") }}/*/batch_id=*/{{ file_name }}`
{%- endmacro %}

{#- ts + a (fractional) number of seconds, to the microsecond (as DuckDB's to_microseconds). -#}
{% macro spark__add_seconds(ts, seconds) -%}
    timestampadd(MICROSECOND, cast(({{ seconds }}) * 1000000.0 as bigint), {{ ts }})
{%- endmacro %}

{#- Seconds from a to b as a double (a decimal literal would make Spark divide in decimals). -#}
{% macro spark__seconds_between(a, b) -%}
    (cast(timestampdiff(MICROSECOND, {{ a }}, {{ b }}) as double) / 1e6)
{%- endmacro %}

{#- A quoted pattern becomes a raw literal: Spark would otherwise read '\.' as '.'. Java's
    regular expressions, like DuckDB's RE2, search (not anchored) and accept (?i). -#}
{% macro spark__regex_match(value, pattern) -%}
    {%- set p = pattern | trim -%}
    ({{ value }} rlike {{ 'r' ~ p if p.startswith("'") else p }})
{%- endmacro %}

{% macro spark__list_has(list_col, value) -%}
    coalesce(array_contains({{ list_col }}, {{ value }}), false)
{%- endmacro %}

{#- on-run-end (dbt_project.yml): after a complete, successful `dbt build` on Spark with the var
    spark_publish_dir set, write every public mart (schema marts) as Parquet into
    <spark_publish_dir>/<table>/. Timestamps are written without a time zone (UTC wall time),
    the type the DuckDB warehouse and its exports have. sendlens moves the folder into
    <home>/warehouse/spark-marts/ once every check has passed. A no-op on DuckDB. -#}
{% macro publish_marts() -%}
    {{ return(adapter.dispatch('publish_marts', 'sendlens')()) }}
{%- endmacro %}

{% macro default__publish_marts() -%}
{%- endmacro %}

{% macro spark__publish_marts() -%}
    {%- set out = var('spark_publish_dir', '') -%}
    {%- if execute and out and flags.WHICH == 'build' -%}
        {#- exposures are results too, with status no-op -#}
        {%- set bad = results | rejectattr('status', 'in', ['success', 'pass', 'warn', 'no-op']) | list -%}
        {%- if bad | length > 0 -%}
            {{ log('not publishing the marts: ' ~ (bad | length) ~ ' node(s) did not pass', info=true) }}
        {%- else -%}
            {%- for node in graph.nodes.values()
                    if node.resource_type == 'model' and node.schema == 'marts' -%}
                {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
                {%- if relation is none -%}
                    {{ exceptions.raise_compiler_error('mart ' ~ node.alias ~ ' was not built') }}
                {%- endif -%}
                {%- set columns = [] -%}
                {%- for column in adapter.get_columns_in_relation(relation) -%}
                    {%- if column.dtype | lower == 'timestamp' -%}
                        {%- do columns.append('cast(' ~ column.quoted ~ ' as timestamp_ntz) as ' ~ column.quoted) -%}
                    {%- else -%}
                        {%- do columns.append(column.quoted) -%}
                    {%- endif -%}
                {%- endfor -%}
                {%- call statement('publish_' ~ node.alias) -%}
                    insert overwrite directory '{{ out }}/{{ node.alias }}' using parquet
                    select {{ columns | join(', ') }} from {{ relation }}
                {%- endcall -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
