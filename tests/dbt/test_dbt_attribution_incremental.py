"""int_activity_attribution's incremental build equals a full rebuild after each kind of change that
can turn over an existing activity's attribution, while recomputing only the activities touched.
The changes are written into the raw tables by hand, as dlt's merge and deletions.py leave them."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("day_later")]

# the account of test_dbt_incremental.py: its two extractions are made once for both modules
SEED = 23
LEADS = 200
NOW = 1_790_000_000
TABLE = "intermediate.int_activity_attribution"
LEDGER = "intermediate.int_processed_loads"
RECONCILIATIONS_DDL = ("create table if not exists raw_amocrm.{} (account_id bigint not null, run_at timestamp with time "
                       "zone not null, entity varchar not null, scanned bigint not null, live_in_raw bigint not null, "
                       "missing bigint not null, marked bigint not null, reappeared bigint not null, "
                       "accepted boolean not null, refused_reason varchar)")
DISAPPEARANCES_DDL = ("create table if not exists raw_amocrm.disappearances (account_id bigint not null, entity_type "
                      "varchar not null, id bigint not null, missing_at bigint not null, run_at bigint not null, "
                      "accepted boolean not null)")


def _load(connection, load_id: str) -> None:
    connection.execute("insert into raw_amocrm._dlt_loads values (?, 'amocrm', 0, now(), '')", [load_id])


def _event(connection, load_id: str, like_id: str, new_id: str, **values) -> None:
    """A new raw event: a copy of event `like_id` with `values` changed, in load `load_id`."""
    sets = ", ".join(f"{column} = ?" for column in values)
    connection.execute(f"create or replace temp table new_event as select * from raw_amocrm.events where id = ?", [like_id])
    connection.execute(f"update new_event set id = ?, _dlt_load_id = ?, _dlt_id = ?{', ' + sets if sets else ''}",
                       [new_id, load_id, f"test-{new_id}", *values.values()])
    connection.execute("insert into raw_amocrm.events select * from new_event")


def _attribution(warehouse, activity_id: str) -> dict:
    row = warehouse.query(f"select * from {TABLE} where activity_id = '{activity_id}'")
    assert len(row) == 1, activity_id
    return row.iloc[0].to_dict()


def _assert_equals_full_rebuild(warehouse, tmp_path) -> None:
    rebuilt = warehouse.copy(tmp_path)
    rebuilt.dbt("run", "--full-refresh", "--select", "int_activity_attribution")
    # attributed_load_id names the build that recomputed a row: bookkeeping, not data
    incremental = warehouse.query(f"select * exclude (attributed_load_id) from {TABLE} order by all")
    full = rebuilt.query(f"select * exclude (attributed_load_id) from {TABLE} order by all")
    assert list(incremental.columns) == list(full.columns)
    assert len(incremental) == len(full)
    assert incremental.equals(full), "the incremental build differs from a full rebuild"


def _spoil(warehouse, activity_id: str) -> int:
    """Set the manager of an activity no change touches to -1 (a build that recomputed it would undo
    that); returns the true one, for `_unspoil`."""
    manager = _attribution(warehouse, activity_id)["manager_id"]
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"update {TABLE} set manager_id = -1 where activity_id = ?", [activity_id])
    return manager


def _unspoil(warehouse, activity_id: str, manager: int) -> None:
    assert _attribution(warehouse, activity_id)["manager_id"] == -1, "an untouched activity was recomputed"
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"update {TABLE} set manager_id = ? where activity_id = ?", [manager, activity_id])


@pytest.fixture(scope="module")
def built(tmp_path_factory, built_day_later):
    """The account a day later, built incrementally, with one call note rewritten in a load of its own to
    name nobody (so it counts for its lead's current owner) and one chat message served on a contact
    (so its lead comes from its talk): (warehouse, that note's activity id, that message's)."""
    shared, _, _ = built_day_later(seed=SEED, leads=LEADS, now=NOW)  # the day's loads built incrementally
    warehouse = shared.copy(tmp_path_factory.mktemp("attribution"))
    counted = warehouse.query(
        f"select * from {TABLE} where is_counted and entity_type = 'lead' order by activity_id")
    note = counted[counted["activity_type"] == "call"].iloc[0]
    chat = counted[(counted["activity_type"] == "chat_message") & counted["talk_id"].notna()].iloc[0]
    contact = warehouse.query("select min(id) from raw_amocrm.contacts where not coalesce(is_deleted, false)").iat[0, 0]
    with duckdb.connect(str(warehouse.path)) as connection:
        _load(connection, "2000000000.0")
        connection.execute("update raw_amocrm.notes set created_by = 0, responsible_user_id = null, "
                           "_dlt_load_id = '2000000000.0' where id = ?", [int(note["activity_id"].split(":")[1])])
        connection.execute("update raw_amocrm.events set entity_type = 'contacts', entity_id = ?, "
                           "_dlt_load_id = '2000000000.0' where id = ?", [int(contact), chat["activity_id"].split(":")[1]])
    warehouse.dbt("run", "--select", "+int_activity_attribution")
    assert _attribution(warehouse, note["activity_id"])["manager_id"] is not None
    return warehouse, note["activity_id"], chat["activity_id"]


def test_changes_to_every_input_equal_a_full_rebuild(built, tmp_path):
    """Day 1: a lead's owner changes, a lead and a contact are deleted (their rows keep their load id,
    as deletions.py applies the events in place), a chat message arrives in an old talk on another lead,
    a task is deleted, the meeting task type is renamed away and another renamed to it, a lead is
    marked gone by an id reconciliation. Day 2: the lead and the contact are restored. Each day's
    incremental build equals a full rebuild, leaves an untouched activity alone, and the changes show."""
    warehouse, note_id, chat_id = built
    warehouse = warehouse.copy(tmp_path / "incremental")
    before = warehouse.query(f"select * from {TABLE}").set_index("activity_id")
    live = before[before["is_counted"].astype(bool) & (before["source"] == "note")]
    note = before.loc[note_id]
    owner = warehouse.query(f"select responsible_user_id from raw_amocrm.leads where id = {note['entity_id']}").iat[0, 0]
    other_user = warehouse.query(f"select min(id) from raw_amocrm.users where id <> {owner}").iat[0, 0]
    on_leads = live[(live["entity_type"] == "lead") & (live["entity_id"] != note["entity_id"])]
    deleted_lead_activity = on_leads.index[0]
    deleted_lead = int(on_leads.iloc[0]["entity_id"])
    on_contacts = live[live["entity_type"] == "contact"]
    assert len(on_contacts), "the simulated account has calls or e-mails on contacts"
    deleted_contact_activity, deleted_contact = on_contacts.index[0], int(on_contacts.iloc[0]["entity_id"])
    gone = on_leads[~on_leads["entity_id"].isin([deleted_lead])]
    gone_activity, gone_lead = gone.index[0], int(gone.iloc[0]["entity_id"])
    chat = before.loc[chat_id]
    new_talk_lead = int(on_leads[on_leads["entity_id"] != chat["lead_id"]].iloc[0]["entity_id"])
    tasks = before[before["source"] == "task"]
    task_id = tasks[tasks["is_counted"].astype(bool)].index[0]
    meetings = tasks.groupby("task_type_id")["is_meeting"].max().astype(bool)
    meeting_type, other_type = int(meetings[meetings].index[0]), int(meetings[~meetings].index[0])
    chat_event = chat_id.split(":")[1]
    latest = warehouse.query("select max(created_at) from raw_amocrm.events").iat[0, 0]
    involved = {note["entity_id"], deleted_lead, gone_lead, new_talk_lead}
    untouched = on_leads[~on_leads["entity_id"].isin(involved)].index[0]
    code = warehouse.query(f"select code from raw_amocrm.task_types where id = {meeting_type}").iat[0, 0]

    with duckdb.connect(str(warehouse.path)) as connection:
        _load(connection, "2000000000.1")
        connection.execute(f"update raw_amocrm.leads set responsible_user_id = {other_user}, "
                           f"_dlt_load_id = '2000000000.1' where id = {note['entity_id']}")
        for entity, table, entity_id in (("lead", "leads", deleted_lead), ("contact", "contacts", deleted_contact)):
            _event(connection, "2000000000.1", chat_event, f"test-del-{entity}", type=f"{entity}_deleted",
                   entity_type=table, entity_id=entity_id, created_at=latest + 1, talk_id=None)
            connection.execute(f"update raw_amocrm.{table} set is_deleted = true, deleted_at = {latest + 1} "
                               f"where id = {entity_id}")
        _event(connection, "2000000000.1", chat_event, "test-chat", type="incoming_chat_message",
               entity_type="leads", entity_id=new_talk_lead, created_at=latest + 2)
        _event(connection, "2000000000.1", chat_event, "test-task-del", type="task_deleted", entity_type="tasks",
               entity_id=int(task_id.split(":")[1]), created_at=latest + 3, talk_id=None)
        connection.execute("update raw_amocrm.task_types set _dlt_load_id = '2000000000.1', code = case "
                           f"when id = {meeting_type} then 'RENAMED' when id = {other_type} then '{code}' else code end")
        connection.execute(DISAPPEARANCES_DDL)
        connection.execute(f"insert into raw_amocrm.disappearances select account_id, 'lead', id, {latest + 4}, "
                           f"epoch(now())::bigint + 1, false from raw_amocrm.leads where id = {gone_lead}")
        connection.execute(f"update raw_amocrm.leads set is_deleted = true where id = {gone_lead}")
    manager = _spoil(warehouse, untouched)
    warehouse.dbt("run", "--select", "+int_activity_attribution")
    _unspoil(warehouse, untouched, manager)
    after = warehouse.query(f"select * from {TABLE}").set_index("activity_id")
    assert after.loc[note_id, "manager_id"] == other_user
    assert after.loc[deleted_lead_activity, "exclusion_reason"] == "deleted_lead"
    assert after.loc[deleted_contact_activity, "exclusion_reason"] == "deleted_entity"
    assert after.loc[gone_activity, "exclusion_reason"] == "deleted_lead"
    assert after.loc[chat_id, "lead_id"] == new_talk_lead != before.loc[chat_id, "lead_id"]
    assert after.loc[task_id, "exclusion_reason"] == "deleted_activity"
    assert not after[after["task_type_id"] == meeting_type]["is_meeting"].any()
    assert after[after["task_type_id"] == other_type]["is_meeting"].all()
    _assert_equals_full_rebuild(warehouse, tmp_path / "day1")

    with duckdb.connect(str(warehouse.path)) as connection:
        _load(connection, "2000000000.2")
        for entity, table, entity_id in (("lead", "leads", deleted_lead), ("contact", "contacts", deleted_contact)):
            _event(connection, "2000000000.2", chat_event, f"test-restore-{entity}", type=f"{entity}_restored",
                   entity_type=table, entity_id=entity_id, created_at=latest + 5, talk_id=None)
            connection.execute(f"update raw_amocrm.{table} set is_deleted = false, deleted_at = null where id = {entity_id}")
    manager = _spoil(warehouse, untouched)
    result = warehouse.dbt("run", "--select", "+int_activity_attribution")
    assert "every activity is recomputed" not in result.stdout
    _unspoil(warehouse, untouched, manager)
    restored = warehouse.query(f"select * from {TABLE}").set_index("activity_id")
    assert restored.loc[deleted_lead_activity, "is_counted"] and restored.loc[deleted_contact_activity, "is_counted"]
    _assert_equals_full_rebuild(warehouse, tmp_path / "day2")


def test_a_record_live_again_after_a_reconciliation_recomputes_everything(built, tmp_path):
    """An id reconciliation that finds a record it had marked gone listed again deletes the mark and
    names no id: the next build recomputes every activity, says so, and equals a full rebuild."""
    warehouse = built[0].copy(tmp_path / "incremental")
    lead = warehouse.query(f"select min(lead_id) from {TABLE} where is_counted and entity_type = 'lead'").iat[0, 0]
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"update raw_amocrm.leads set is_deleted = true where id = {lead}")
    warehouse.dbt("run", "--full-refresh", "--select", "stg_amocrm__leads", "int_activity_attribution")
    assert warehouse.query(f"select count(*) from {TABLE} where lead_id = {lead} and is_counted").iat[0, 0] == 0
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(RECONCILIATIONS_DDL.format("reconciliations"))
        connection.execute("insert into raw_amocrm.reconciliations values "
                           "(1, now() + interval 1 second, 'leads', 10, 10, 0, 0, 1, false, null)")
        connection.execute(f"update raw_amocrm.leads set is_deleted = false where id = {lead}")
    other = warehouse.query(f"select min(activity_id) from {TABLE} where is_counted and lead_id <> {lead}").iat[0, 0]
    _spoil(warehouse, other)
    result = warehouse.dbt("run", "--select", "stg_amocrm__leads", "int_activity_attribution")
    assert "found records live again" in result.stdout
    assert _attribution(warehouse, other)["manager_id"] != -1, "every activity was recomputed"
    assert warehouse.query(f"select count(*) from {TABLE} where lead_id = {lead} and is_counted").iat[0, 0] > 0
    _assert_equals_full_rebuild(warehouse, tmp_path / "full")


def test_a_table_built_before_it_was_incremental_is_recomputed_once(built, tmp_path):
    """A warehouse whose attribution table was built by the version that rebuilt it in full (no
    task_type_id, no ledger rows) is recomputed once, then incremental."""
    warehouse = built[0].copy(tmp_path / "incremental")
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"alter table {TABLE} drop column attributed_load_id")
        connection.execute(f"alter table {TABLE} drop column task_type_id")
        connection.execute(f"delete from {LEDGER} where model_name = 'int_activity_attribution'")
    result = warehouse.dbt("run", "--select", "int_activity_attribution")
    assert "no record of the loads it has read" in result.stdout
    _assert_equals_full_rebuild(warehouse, tmp_path / "full")
    activity = warehouse.query(f"select min(activity_id) from {TABLE} where is_counted").iat[0, 0]
    manager = _spoil(warehouse, activity)
    again = warehouse.dbt("run", "--select", "int_activity_attribution")
    assert "recomputed" not in again.stdout
    _unspoil(warehouse, activity, manager)


def test_activities_built_before_they_stored_talk_id_get_it_once(built, tmp_path):
    """int_activities built before it stored the chat messages' talk_id (which int_activity_attribution
    reads instead of looking every message up among all events) gets the column filled from the events
    once, says so, and then equals a full rebuild (the attribution then reads what a full build would)."""
    warehouse = built[0].copy(tmp_path / "incremental")
    activities = "intermediate.int_activities"
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"alter table {activities} drop column talk_id")
    result = warehouse.dbt("run", "--select", "int_activities", "int_activity_attribution")
    assert "built before it stored the chat messages' talk_id" in result.stdout
    rebuilt = warehouse.copy(tmp_path / "full")
    rebuilt.dbt("run", "--full-refresh", "--select", "int_activities")
    query = f"select * exclude (talk_id), talk_id from {activities} order by all"
    upgraded, full = warehouse.query(query), rebuilt.query(query)
    assert full["talk_id"].notna().sum() > 0
    assert upgraded.equals(full), "the upgraded int_activities differs from a full rebuild"
