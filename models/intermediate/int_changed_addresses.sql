-- The addresses an incremental build recomputes in the quarantine models (empty on a full
-- build): the addresses of the recomputed messages, before and after (a new version of a
-- message may have another address), and, when as_of moved forward, every address with
-- something in the window (previous as_of, as_of]: feedback or a complaint becoming known, or
-- a state lifting by itself (counter reset, mailbox-full release).
-- The kept tables it reads (previous()) are the published build's: int_messages and
-- int_quarantine_states are recomputed after this model.
{%- set changed_messages = ref('int_changed_messages') %}
{% if is_incremental_build() %}
with changed_messages as (
    select message_id from {{ changed_messages }}
),

addresses_before as (
    select address from {{ previous('int_messages') }}
    where message_id in (select message_id from changed_messages)
),

addresses_landed as (
    select address from {{ lake_scan_new('send_log') }}
),

{% if build_var('as_of_moved_from') %}
known_in_window as (
    select messages.address
    from {{ previous('int_feedback_events') }} as feedback
    inner join {{ previous('int_messages') }} as messages
        on feedback.message_id = messages.message_id
    where {{ in_moved_window('feedback.known_at') }}
    union all
    select messages.address
    from {{ previous('int_tracking_events') }} as tracking
    inner join {{ previous('int_messages') }} as messages
        on tracking.message_id = messages.message_id
    where tracking.tracking_type = 'complaint'
        and {{ in_moved_window('tracking.received_at') }}
),

released_in_window as (
    select address from {{ previous('int_quarantine_states') }}
    where {{ in_moved_window('release_at') }}
),
{% endif %}

all_changed as (
    select address from addresses_before
    union all select address from addresses_landed
    {% if build_var('as_of_moved_from') %}
    union all select address from known_in_window
    union all select address from released_in_window
    {% endif %}
),

final as (
    select distinct address from all_changed
    where address is not null
)

select * from final
{% else %}
select cast(null as {{ dbt.type_string() }}) as address
where 1 = 0
{% endif %}
