-- One row per address of the sending log: its quarantine state as of the build's as_of
-- (the current row of fct_address_quarantine_history). An address never bounced nor
-- complained about is `valid` with error_count 0; one not yet relayed to by as_of (and with
-- no event) has no history and status_since null. Kept between builds (dim_address_quarantine
-- adds the build's as_of).
{{ kept_by('address') }}
with addresses as (
    select * from {{ ref('int_quarantine_addresses') }}
    where {{ kept_rows() }}
),

current_state as (
    select * from {{ ref('fct_address_quarantine_history') }}
    where is_current
        and {{ kept_rows() }}
),

final as (
    select
        addresses.address,
        addresses.channel,
        coalesce(current_state.status, 'valid') as status,
        coalesce(current_state.error_count, 0) as error_count,
        current_state.last_reason,
        current_state.status_since,
        current_state.last_error_at,
        current_state.change_cause as last_change_cause,
        current_state.valid_from as state_since,
        current_state.release_at,
        coalesce(current_state.status in ('quarantine', 'denylisted'), false) as is_quarantined,
        addresses.messages,
        addresses.relayed_messages,
        addresses.first_relayed_at,
        addresses.last_relayed_at
    from addresses
    left join current_state
        on addresses.address = current_state.address
)

select * from final
