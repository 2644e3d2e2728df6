{#- Personal data in the public marts (issue 17).

    Which mart columns hold personal data, or values derived from it, is declared once, in the
    marts' YAML, as column meta:

        - name: address
          config: {meta: {personal_data: address}}      # masked on export: j***@gmail.com
        - name: message_id
          config: {meta: {personal_data: identifier}}   # pseudonymised on export (keyed hash)
        - name: details
          config: {meta: {personal_data: free_text}}    # e-mail-looking substrings masked

    The exporter (reports/warehouse.py) never guesses from a column's name when the warehouse
    carries that declaration: this on-run-end hook writes it into the build's warehouse as
    audit.personal_data_columns (table_name, column_name, personal_data), recreated on every
    DuckDB build or run from dbt's graph, so it always describes the marts of that warehouse.
    No-op on Spark (its marts are published as Parquet and exported from the DuckDB warehouse).
-#}

{% macro personal_data_kinds() -%}
    {{ return(['address', 'identifier', 'free_text']) }}
{%- endmacro %}

{#- The declaration, as (table_name, column_name, personal_data) triples, sorted. -#}
{% macro personal_data_declaration() -%}
    {%- set rows = [] -%}
    {%- for table_name, column_name, meta in mart_column_meta() -%}
        {%- set kind = meta.get('personal_data') -%}
        {%- if kind -%}
            {%- if kind not in personal_data_kinds() -%}
                {{ exceptions.raise_compiler_error(
                    'personal_data of ' ~ table_name ~ '.' ~ column_name ~ ' is ' ~ kind
                    ~ '; expected one of ' ~ (personal_data_kinds() | join(', '))) }}
            {%- endif -%}
            {%- do rows.append([table_name, column_name, kind]) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(rows | sort) }}
{%- endmacro %}

{#- Every public mart column with its meta (column meta and config meta merged), as
    (table_name, column_name, meta): the one walk over dbt's graph that the declarations kept
    in the warehouse (personal data, column formats) are read from. -#}
{% macro mart_column_meta() -%}
    {%- set out = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.fqn | length > 2 and node.fqn[1] == 'marts' -%}
            {%- for column in node.columns.values() -%}
                {%- set meta = dict(column.meta or {}) -%}
                {%- do meta.update((column.config or {}).get('meta') or {}) -%}
                {%- do out.append([node.alias or node.name, column.name, meta]) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- `create or replace table relation as` the given rows (lists of strings, one per column;
    '' becomes null), every column a string. Values become SQL text only through sql_literal. -#}
{% macro declaration_table(relation, columns, rows) -%}
    create or replace table {{ relation }} as
    select
        {%- for c in columns %}
        cast(nullif({{ c }}, '') as {{ dbt.type_string() }}) as {{ c }}{{ "," if not loop.last }}
        {%- endfor %}
    from (
        {%- if rows %}
        values
        {%- for row in rows %}
            ({% for v in row %}{{ sql_literal(v) }}{{ ", " if not loop.last }}{% endfor %}){{ "," if not loop.last }}
        {%- endfor %}
        {%- else %}
        select {% for c in columns %}null{{ ", " if not loop.last }}{% endfor %} where false
        {%- endif %}
    ) as declared({{ columns | join(', ') }})
{%- endmacro %}

{#- on-run-end (dbt_project.yml): (re)create audit.personal_data_columns in the build's
    warehouse. Values become SQL text only through sql_literal. -#}
{% macro record_personal_data() -%}
    {%- if execute and target.type == 'duckdb' and flags.WHICH in ('build', 'run') -%}
    {{ declaration_table(target.database ~ '.audit.personal_data_columns',
                         ['table_name', 'column_name', 'personal_data'], personal_data_declaration()) }}
    {%- endif -%}
{%- endmacro %}

{#- A free text with every e-mail-looking substring masked in the mart itself, the way the
    exports mask an address ('ask john.doe@gmail.com' -> 'ask j***@gmail.com': the first
    character of the local part, then ***@ and the domain). The SQL twin of
    reports/warehouse.py EMAIL_IN_TEXT / mask_emails_sql: the same pattern (a single quote
    written \x27, so that Spark can read it as a raw literal) and the same replacement, so a
    masked text exported again stays as it is. -#}
{% macro email_in_text_pattern() -%}
    {{ return("([^\\s@<>()\\[\\],;:\"\\x27])[^\\s@<>()\\[\\],;:\"\\x27]*@([A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+)") }}
{%- endmacro %}

{% macro mask_emails_in_text(value) -%}
    {{ return(adapter.dispatch('mask_emails_in_text', 'sendlens')(value)) }}
{%- endmacro %}
{% macro default__mask_emails_in_text(value) -%}
    regexp_replace({{ value }}, {{ sql_literal(email_in_text_pattern()) }}, '\1***@\2', 'g')
{%- endmacro %}
{% macro spark__mask_emails_in_text(value) -%}
    regexp_replace({{ value }}, r{{ sql_literal(email_in_text_pattern()) }}, '$1***@$2')
{%- endmacro %}
