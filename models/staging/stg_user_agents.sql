-- One row per distinct user agent of the landed tracking events, as ua-parser parsed it: the
-- lake's derived table <lake>/derived/user_agents/, which sendlens writes before every build
-- (sendlens/ingest/user_agents.py; each agent is parsed once, so user_agent is unique). Its
-- schema-only file keeps the scan valid before the first agent. Not a landing kind: no
-- batch_id= folders, so lake_scan does not apply; the read is written once per engine here.
{%- set _ = source('lake', 'user_agents') %}
with source as (
    {% if target.type == 'spark' -%}
    select * from parquet.`{{ var("lake_root") }}/derived/user_agents/*.parquet`
    {%- else -%}
    select * from read_parquet({{ lake_glob('/derived/user_agents/*.parquet') }}, hive_partitioning = false, union_by_name = true)
    {%- endif %}
),

final as (
    select
        user_agent,
        client_family,
        ua_family,
        os_family,
        device_family,
        device_class,
        parser_version
    from source
)

select * from final
