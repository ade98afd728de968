"""The definitions load the way `dagster dev` and the `dagster` CLI load them: every job resolved.

`execute_in_process` of one job does not check that job and op names are unique across the
repository; the code server does, and refuses to load the whole code location when they clash.
"""

from pipelines.definitions import defs


def test_every_job_resolves_as_the_code_server_loads_it():
    repository = defs.get_repository_def()
    names = {job.name for job in repository.get_all_jobs()}
    assert {"amocrm_daily", "amocrm_extract_account", "amocrm_transform", "amocrm_reconcile_ids"} <= names
