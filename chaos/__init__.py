"""The chaos campaign (`make chaos`): does the daily pipeline survive a hostile amoCRM and hard kills?

Test tooling, not product code. Many consecutive daily runs of `amocrm_daily`
(each a `dagster job execute` subprocess) against the simulator with its clock
moving a day per run, under seeded faults (`chaos.faults`) and SIGKILLs at
chosen steps (`chaos.runs`); then one clean run, and the warehouse, marts and
serving copy are compared with the simulator's ground truth (`chaos.ground_truth`).
`chaos.table` prints the result and decides pass/fail.
"""
