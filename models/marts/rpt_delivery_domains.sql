-- Per delivery, mode and recipient domain: the deliverability analyst's first question.
-- A recurring parent's rows (is_recurring_parent) repeat its executions' messages.
{{ kept_by('delivery_id', rows='report') }}
with messages as (
    select * from {{ ref('int_reporting_messages') }}
    where recipient_domain is not null
        and {{ kept_rows('reporting_delivery_id') }}
),

statuses as (
    select * from {{ ref('fct_message_status') }}
),

engagement as (
    select * from {{ ref('int_message_engagement') }}
),

reporting_deliveries as (
    select delivery_id, is_recurring_parent from {{ ref('int_reporting_deliveries') }}
),

per_domain as (
    select
        messages.reporting_delivery_id as delivery_id,
        statuses.reporting_mode,
        messages.recipient_domain,
        count(*) as sent,
        count(case when statuses.status = 'sent' then 1 end) as delivered,
        count(case when statuses.status = 'failed' then 1 end) as bounces_errors,
        count(case when statuses.status = 'failed' and statuses.failure_type = 'hard' then 1 end) as hard_bounces,
        count(case when statuses.status = 'failed' and statuses.failure_type = 'soft' then 1 end) as soft_bounces,
        count(case when engagement.has_open_or_implied then 1 end) as unique_opens,
        count(case when engagement.has_human_open_or_implied then 1 end) as human_unique_opens
    from statuses
    inner join messages
        on statuses.message_id = messages.message_id
    left join engagement
        on statuses.message_id = engagement.message_id
    group by 1, 2, 3
),

final as (
    select
        per_domain.*,
        {{ safe_rate('delivered', 'delivered + bounces_errors') }} as delivered_rate,
        {{ safe_rate('bounces_errors', 'delivered + bounces_errors') }} as bounce_rate,
        least(1.0, {{ safe_rate('unique_opens', 'delivered') }}) as open_rate,
        least(1.0, {{ safe_rate('human_unique_opens', 'delivered') }}) as open_rate_excl_machine,
        coalesce(reporting_deliveries.is_recurring_parent, false) as is_recurring_parent
    from per_domain
    left join reporting_deliveries
        on per_domain.delivery_id = reporting_deliveries.delivery_id
)

select * from final
