-- Confirmation audit (SPEC section 5): one row per known delivery. Only operators holding the
-- `start_deliveries` role may confirm a send. A message counts as sent once relayed by the
-- build's as_of; a confirmation counts once recorded (confirmed_by or confirmed_at) and not
-- dated after as_of (a later one is not known yet: the delivery is not confirmed as of then). Findings (null when fine; several joined with '; ', in this order):
--   confirmed_by_operator_without_start_deliveries  confirmer is a known operator without the role
--   sent_without_required_confirmation              requires confirmation, messages sent, no
--                                                   confirmation (proofs are exempt: they are sent
--                                                   without confirmation)
--   started_before_confirmation                     requires confirmation, first relay before
--                                                   confirmed_at (proofs exempt)
--   confirmer_unknown                               confirmed_by is not an operator, or a
--                                                   confirmation time with no confirmer
with deliveries as (
    select * from {{ ref('stg_deliveries') }}
),

operators as (
    select * from {{ ref('stg_operators') }}
),

sends as (
    select
        delivery_id,
        count(*) as messages,
        count(case when relayed_at <= {{ as_of() }} then 1 end) as sent_messages,
        min(case when relayed_at <= {{ as_of() }} then relayed_at end) as first_relayed_at
    from {{ ref('int_messages') }}
    group by delivery_id
),

joined as (
    select
        deliveries.delivery_id,
        deliveries.label,
        deliveries.channel,
        coalesce(deliveries.is_proof, false) as is_proof,
        coalesce(deliveries.requires_confirmation, true) as requires_confirmation,
        deliveries.confirmed_by,
        deliveries.confirmed_at,
        (deliveries.confirmed_by is not null or deliveries.confirmed_at is not null)
            and (deliveries.confirmed_at is null or deliveries.confirmed_at <= {{ as_of() }}) as is_confirmed,
        operators.operator is not null as is_confirmer_known,
        coalesce(operators.can_start_deliveries, false) as is_confirmer_allowed,
        deliveries.scheduled_at,
        sends.first_relayed_at,
        coalesce(sends.messages, 0) as messages,
        coalesce(sends.sent_messages, 0) as sent_messages
    from deliveries
    left join operators
        on deliveries.confirmed_by = operators.operator
    left join sends
        on deliveries.delivery_id = sends.delivery_id
),

confirmers as (
    select
        *,
        case when is_confirmed and confirmed_by is not null then is_confirmer_allowed end as confirmer_may_start
    from joined
),

flagged as (
    select
        *,
        is_confirmed and confirmed_by is not null and is_confirmer_known and not is_confirmer_allowed
            as is_confirmer_without_role,
        requires_confirmation and not is_proof and sent_messages > 0 and not is_confirmed
            as is_sent_without_confirmation,
        requires_confirmation and not is_proof and is_confirmed
            and first_relayed_at is not null and confirmed_at is not null
            and first_relayed_at < confirmed_at as is_started_before_confirmation,
        is_confirmed and (confirmed_by is null or not is_confirmer_known) as is_confirmer_unknown
    from confirmers
),

final as (
    select
        delivery_id,
        label,
        channel,
        is_proof,
        requires_confirmation,
        confirmed_by,
        confirmed_at,
        is_confirmed,
        confirmer_may_start,
        scheduled_at,
        first_relayed_at,
        {{ seconds_between('scheduled_at', 'first_relayed_at') }} as start_lag_seconds,
        messages,
        sent_messages,
        nullif(concat_ws('; ',
            case when is_confirmer_without_role then 'confirmed_by_operator_without_start_deliveries' end,
            case when is_sent_without_confirmation then 'sent_without_required_confirmation' end,
            case when is_started_before_confirmation then 'started_before_confirmation' end,
            case when is_confirmer_unknown then 'confirmer_unknown' end
        ), '') as finding,
        (case when is_confirmer_without_role then 1 else 0 end)
            + (case when is_sent_without_confirmation then 1 else 0 end)
            + (case when is_started_before_confirmation then 1 else 0 end)
            + (case when is_confirmer_unknown then 1 else 0 end) as finding_count,
        {{ as_of() }} as as_of
    from flagged
)

select * from final
