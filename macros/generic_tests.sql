{#- Rows where a business invariant does not hold (dbt_utils-style, kept local: no hub). -#}
{% test expression_is_true(model, expression, column_name=none, where_clause=none) %}
select *
from {{ model }}
where not ({{ column_name ~ ' ' if column_name else '' }}{{ expression }})
{% if where_clause %} and ({{ where_clause }}) {% endif %}
{% endtest %}

{#- Exactly one row per combination of the given columns. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- Per partition, consecutive intervals touch (valid_to = next valid_from) and never overlap;
    only the last may be open (valid_to null). -#}
{% test contiguous_intervals(model, partition_by, valid_from='valid_from', valid_to='valid_to') %}
with ordered as (
    select
        {{ partition_by | join(', ') }},
        {{ valid_from }} as vf,
        {{ valid_to }} as vt,
        lead({{ valid_from }}) over (partition by {{ partition_by | join(', ') }} order by {{ valid_from }}) as next_vf
    from {{ model }}
)
select *
from ordered
where (next_vf is not null and (vt is null or vt <> next_vf))
   or (next_vf is null and vt is not null and vt < vf)
   or (vt is not null and vt <= vf)
{% endtest %}
