-- Every address of the sending log (relayed or not), with the channel it is reached on and
-- when it was first relayed to by the build's as_of. This is the universe of
-- dim_address_quarantine: an address never bounced nor complained about is `valid`.
-- Addresses compare case-sensitively (Jane@x.com and jane@x.com are two addresses).
{{ kept_by('address') }}
with messages as (
    select * from {{ ref('int_messages') }}
    where {{ kept_rows() }}
),

ranked as (
    select
        address,
        channel,
        row_number() over (
            partition by address
            order by case when channel is null then 1 else 0 end, relayed_at desc nulls last, message_id desc
        ) as channel_rank
    from messages
),

-- the channel of the address's latest message whose delivery is known; failing that (its
-- deliveries are all unknown), guessed from the address's form
channels as (
    select
        address,
        coalesce(
            channel,
            case
                when position('@' in address) > 0 then 'email'
                when {{ regex_match('address', "'^\\+?[0-9][0-9 ().-]*$'") }} then 'sms'
                else 'push'
            end
        ) as channel,
        channel is null as is_channel_guessed
    from ranked
    where channel_rank = 1
),

summary as (
    select
        address,
        count(*) as messages,
        count(case when relayed_at <= {{ as_of() }} then 1 end) as relayed_messages,
        min(case when relayed_at <= {{ as_of() }} then relayed_at end) as first_relayed_at,
        max(case when relayed_at <= {{ as_of() }} then relayed_at end) as last_relayed_at
    from messages
    group by address
),

final as (
    select
        summary.address,
        channels.channel,
        channels.is_channel_guessed,
        summary.messages,
        summary.relayed_messages,
        summary.first_relayed_at,
        summary.last_relayed_at
    from summary
    inner join channels
        on summary.address = channels.address
)

select * from final
