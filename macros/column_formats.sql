{#- How a mart column is shown to people (issue 21): its format, and optionally its header.

    Declared once, in the marts' YAML, as column meta beside personal_data:

        - name: open_rate
          data_type: double
          config: {meta: {format: percent}}     # a share 0..1, shown as 12.3%
        - name: difference
          config: {meta: {format: kpi_difference, label: "Difference"}}

    A rate is a double like any other number, so only this declaration makes it a percentage:
    the workbook never guesses from a column's name (reports/column_formats.py). This on-run-end
    hook writes the declaration into the build's warehouse as audit.column_formats (table_name,
    column_name, format, label), recreated on every DuckDB build or run from dbt's graph, so it
    describes the marts of that very warehouse wherever the file is copied. No-op on Spark.
-#}

{% macro column_format_kinds() -%}
    {{ return(['percent', 'count', 'number', 'seconds', 'datetime', 'date', 'flag', 'text',
               'kpi_value', 'kpi_difference']) }}
{%- endmacro %}

{#- The declaration, as (table_name, column_name, format, label) rows, sorted ('' for none). -#}
{% macro column_format_declaration() -%}
    {%- set rows = [] -%}
    {%- for table_name, column_name, meta in mart_column_meta() -%}
        {%- if meta.get('format') or meta.get('label') -%}
            {%- if meta.get('format') and meta.get('format') not in column_format_kinds() -%}
                {{ exceptions.raise_compiler_error(
                    'format of ' ~ table_name ~ '.' ~ column_name ~ ' is ' ~ meta.get('format')
                    ~ '; expected one of ' ~ (column_format_kinds() | join(', '))) }}
            {%- endif -%}
            {%- do rows.append([table_name, column_name, meta.get('format') or '', meta.get('label') or '']) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(rows | sort) }}
{%- endmacro %}

{#- on-run-end (dbt_project.yml): (re)create audit.column_formats in the build's warehouse
    (macros/personal_data.sql: the graph walk and the table writer both declarations share). -#}
{% macro record_column_formats() -%}
    {%- if execute and target.type == 'duckdb' and flags.WHICH in ('build', 'run') -%}
    {{ declaration_table(target.database ~ '.audit.column_formats',
                         ['table_name', 'column_name', 'format', 'label'], column_format_declaration()) }}
    {%- endif -%}
{%- endmacro %}
