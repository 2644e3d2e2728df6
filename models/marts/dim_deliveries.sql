-- One row per delivery: every delivery of the deliveries kind (proofs included), every
-- delivery_id the sending log names without a deliveries row (unknown settings), and every
-- recurring parent named by its executions even without a row of its own. Its settings, its
-- own reporting mode and validity (the delivery rules of int_deliveries; a recurring parent's
-- validity and finality are those of its report row, int_reporting_deliveries, so they agree
-- with rpt_delivery_kpis) and its first relay known at the build's as_of.
with deliveries as (
    select * from {{ ref('int_deliveries') }}
),

reporting_deliveries as (
    select * from {{ ref('int_reporting_deliveries') }}
),

messages as (
    select * from {{ ref('int_messages') }}
),

all_ids as (
    select delivery_id from deliveries
    union
    select delivery_id from reporting_deliveries
),

first_relays as (
    select
        delivery_id,
        min(relayed_at) as first_relayed_at
    from messages
    where relayed_at <= {{ as_of() }}
    group by delivery_id
),

joined as (
    select
        all_ids.delivery_id,
        coalesce(deliveries.is_known, false) as is_known,
        deliveries.label,
        coalesce(deliveries.channel, reporting_deliveries.channel) as channel,
        coalesce(reporting_deliveries.own_reporting_mode, deliveries.own_reporting_mode) as own_reporting_mode,
        coalesce(deliveries.contact_at, reporting_deliveries.contact_at) as contact_date,
        deliveries.scheduled_at,
        first_relays.first_relayed_at,
        deliveries.parent_delivery_id,
        coalesce(reporting_deliveries.is_recurring_parent, false) as is_recurring_parent,
        coalesce(deliveries.is_proof, false) as is_proof,
        -- a report row's validity (a recurring parent: its executions'); a proof's own
        case
            when reporting_deliveries.delivery_id is not null then reporting_deliveries.validity_end_at
            else deliveries.validity_end_at
        end as validity_end_at
    from all_ids
    left join deliveries
        on all_ids.delivery_id = deliveries.delivery_id
    left join reporting_deliveries
        on all_ids.delivery_id = reporting_deliveries.delivery_id
    left join first_relays
        on all_ids.delivery_id = first_relays.delivery_id
),

final as (
    select
        delivery_id,
        label,
        channel,
        own_reporting_mode,
        contact_date,
        scheduled_at,
        first_relayed_at,
        parent_delivery_id,
        is_recurring_parent,
        is_proof,
        is_known,
        validity_end_at,
        validity_end_at is not null and validity_end_at <= {{ as_of() }} as is_final,
        {{ as_of() }} as as_of
    from joined
)

select * from final
