"""Run the fault-injection tests and regenerate the README's table of faults and outcomes.

    uv run python bench/reliability.py                 # run them, print the table
    uv run python bench/reliability.py --update-readme # also rewrite it in README.md
    uv run python bench/reliability.py --only test_schema_change --update-readme
        # run only the cases whose test id holds that text; the other rows keep
        # the result the README shows for them

Each row is one automated test that injects a fault and asserts the promised
outcome; the result column is what this run of the test gave.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"

FAULTS = "tests/flows/test_faults.py"
TRACKING = "tests/integration/test_tracking.py"
VALIDATION = "tests/integration/test_validation.py"
STACK = "tests/e2e/test_stack.py"
COMPOSE_AUTH = "tests/e2e/test_compose_auth.py"
DISK_FULL = "tests/flows/test_disk_full.py"
SERVER_LOST = "tests/flows/test_tracking_server_lost.py"
LEAK = "tests/flows/test_leak.py"
CRASH = "tests/flows/test_crash.py"
LABELS = "tests/flows/test_label_faults.py"
TWO_MONITORS = "tests/e2e/test_two_monitors.py"
KILLED = "tests/e2e/test_killed_monitor.py"
LOCAL_DASK = "tests/e2e/test_local_dask.py"
MOVE = "tests/flows/test_data_root_move.py"
SCHEMA = "tests/flows/test_schema_change.py"
QUARANTINE = "quarantined byte for byte, reason names {what}; champion unchanged; ledger entry"

# (test node id, fault injected, outcome the test asserts)
CASES: list[tuple[str, str, str]] = [
    (
        f"{FAULTS}::test_a_faulty_batch_is_quarantined_with_a_named_reason_and_changes_nothing"
        f"[{case}]",
        fault,
        QUARANTINE.format(what=what),
    )
    for case, fault, what in [
        ("renamed column", "column renamed (`price` -> `Price`)", "`price`"),
        ("missing column", "column missing", "`temperature`"),
        ("all-null column", "every value of a column missing", "`temperature`, `some_values`"),
        ("decimal comma as text", '"12,5" as text in a numeric column', "`price` and `12,5`"),
        ("empty file", "empty file (0 bytes)", "the file as empty"),
        ("header-only file", "header-only file", "no rows"),
        ("truncated csv", "truncated CSV (cut mid-row)", "truncated"),
        ("wrong encoding", "Latin-1 file where UTF-8 is expected", "the encoding"),
        ("leaked target column", "target column inside the batch", "`units_sold` (leak)"),
        ("infinite feature values", "+inf, -inf in a feature", "`temperature`, infinite"),
    ]
] + [
    (
        f"{LABELS}::test_conflicting_duplicate_ids_are_left_out_not_last_row_wins",
        "label file with 20 duplicate ids whose targets conflict",
        "label file accepted, the 40 rows of those ids left out and counted "
        "(`conflicting_duplicates`); realized error measured on the other rows",
    ),
    (
        f"{LABELS}::test_a_text_target_is_left_out_with_its_rule_and_the_cycle_runs",
        "the text `abc` in a numeric target",
        "the row left out and counted (`target_not_numeric`, `'abc'` quoted); the cycle runs",
    ),
    (
        f"{LABELS}::test_blank_targets_are_left_out_and_the_rest_measure_the_champion",
        "blank targets in one row of seven of a label file",
        "the rows left out and counted (`target_missing`); realized error measured on the "
        "known labels (never null)",
    ),
    (
        f"{LABELS}::test_a_label_file_of_blank_targets_is_no_evidence_and_never_reads_as_no_decay",
        "a label file whose every target is blank",
        "accepted with 0 usable rows; realized `null`; the decision is `skip` with a reason "
        "other than `no_decay`, and the summary never says there was no reason to retrain",
    ),
    (
        f"{LABELS}::test_targets_outside_the_target_rules_are_left_out_and_the_cycle_runs",
        "label file with negative targets where the label contract says `target_min: 0`",
        "the rows left out and counted (`target_out_of_range`); realized error measured on the "
        "other rows; the cycle runs",
    ),
    (
        f"{LABELS}::test_a_wrong_header_quarantines_the_label_file_and_later_cycles_go_on",
        "label file with a wrong header (`count` for `units_sold`)",
        "label file quarantined byte for byte with its reason and a `mlops.labels.quarantined` "
        "event; the batch is scored and decided (`not_enough_labels`)",
    ),
    (
        f"{SCHEMA}::test_after_a_column_is_added_the_champion_scores_and_is_measured_on_older_rows",
        "a feature (`feels_like`) added to the contract and to new batches after a champion "
        "exists; the older labeled rows lack it",
        "the cycle completes: the champion scores with the inputs it knows and its realized error "
        "is measured on the older rows (was `KeyError: 'feels_like'` on every rerun)",
    ),
    (
        f"{SCHEMA}::test_the_record_and_the_summary_say_the_column_takes_effect_at_the_next_retrain",
        "the same change, as recorded",
        "`schema_change` in the decision record (`column_added`, `new_feature_next_retrain`); the "
        "summary names the column and says it takes effect at the next retrain",
    ),
    (
        f"{SCHEMA}::test_retrains_train_on_the_new_column_once_labeled_rows_hold_it",
        "retrains after that change",
        "a retrain whose labeled rows all predate the column does not read it; the next one does; "
        "its model card lists it as new against the previous champion",
    ),
    (
        f"{SCHEMA}::test_dropping_a_feature_the_champion_reads_is_refused_before_the_batch_is_"
        "touched",
        "a feature the champion reads (`temperature`) dropped from the contract and the batch",
        "`monitor` and `score_batch` refuse it (`input_dropped`) before touching the batch: still "
        "in landing, no ledger entry, no prediction, no run; champion unchanged",
    ),
    (
        f"{SCHEMA}::test_the_mlops_command_says_so_in_one_line_and_exits_2",
        "the same, through `mlops monitor`, `mlops score` and `mlops bootstrap`",
        "one line naming the column, the champion version and the way out (`feature: false`), no "
        "traceback; exit code 2; state unchanged",
    ),
    (
        f"{SCHEMA}::test_a_widened_range_and_a_new_category_are_accepted_and_recorded",
        "the `temperature` range widened and a new store `S07` in contract and batch",
        "accepted and recorded (`range_widened`, `category_added`); the champion scores the new "
        "store's rows",
    ),
    (
        f"{MOVE}::test_a_copy_never_writes_into_its_original",
        "the data root copied to another folder, then cycles run in the copy",
        "the copy's store points at the copy; the original's files are unchanged",
    ),
    (
        f"{MOVE}::test_status_report_and_rollback_run_after_a_move",
        "the data root moved to another folder",
        "cycles, scoring, status, the history report and a rollback to a version made "
        "before the move all run",
    ),
    (
        f"{TWO_MONITORS}::test_two_monitor_processes_on_one_batch_run_one_cycle",
        "two `mlops monitor` processes started together on the same batch",
        "one cycle: one ledger entry and one decision run; the other process waits, names the "
        "holder, and reports the batch as a duplicate",
    ),
    (
        f"{LEAK}::test_the_challenger_that_learnt_the_leak_is_rejected",
        "the target leaking into a feature (`units_last_week` = this week's sales), contract "
        "still passed",
        "challenger rejected (`target_leak_suspected`, the column named); champion unchanged",
    ),
    (
        f"{LEAK}::test_a_leak_raises_the_alert_event",
        "the same leak",
        "`mlops.model.leak_suspected` event (an alert automation listens to it)",
    ),
    (
        f"{FAULTS}::test_extreme_finite_outliers_pass_with_a_warning_and_their_forecasts_are_"
        "flagged",
        "extreme finite outliers in a feature (temperature 1e6, -1e6, 1e300)",
        "batch accepted with a `range` warning; those rows' forecasts flagged "
        "`input_out_of_range`, finite; champion unchanged",
    ),
    (
        f"{FAULTS}::test_nan_inf_and_out_of_range_predictions_are_replaced_clipped_counted_and_"
        "alerted",
        "NaN, +inf, -inf, negative and huge predictions from the champion",
        "non-finite replaced by the fallback, the rest clipped to 0 and to capacity; every row "
        "delivered; counts per rule; `mlops.guardrail.breach` event",
    ),
    (
        f"{FAULTS}::test_a_week_hotter_than_any_in_training_is_one_finding_and_is_delivered",
        "a batch where `input_out_of_range` would flag every row (a season the champion never "
        "saw: every temperature far above its training range)",
        "one batch finding (record, summary, one `mlops.guardrail.finding` event); no row "
        "flagged for it, nothing held: every forecast delivered",
    ),
    (
        f"{FAULTS}::test_a_cycle_that_fails_after_scoring_publishes_nothing_and_its_rerun_does",
        "a cycle that fails after the batch was scored (drift step raises)",
        "no predictions or review rows published (they wait in staging for the commit, and "
        "the undecided cycle's are removed); batch in landing; the rerun publishes them",
    ),
    (
        f"{FAULTS}::test_a_model_that_only_returns_nan_trips_the_breaker_and_holds_the_batch",
        "a champion that returns only NaN",
        "circuit breaker: the whole batch held for review, nothing sent on; breach event",
    ),
    (
        f"{CRASH}::test_after_the_kill_nothing_moved_and_the_batch_waits[record]",
        "SIGKILL after registering the challenger, before the decision is recorded",
        "champion unchanged; batch still in landing, no ledger entry, no decision",
    ),
    (
        f"{CRASH}::test_a_rerun_finishes_the_job_and_commits_the_batch_once[record]",
        "rerun after that SIGKILL",
        "orphan version `abandoned` with its reason; a new challenger decided; batch committed "
        "once; no version left `candidate`",
    ),
    (
        f"{CRASH}::test_after_the_kill_nothing_moved_and_the_batch_waits[alias]",
        "SIGKILL with the promotion recorded, as `champion` is about to move",
        "champion unchanged; batch still in landing, no ledger entry; the decision on record",
    ),
    (
        f"{CRASH}::test_a_rerun_finishes_the_job_and_commits_the_batch_once[alias]",
        "rerun after that SIGKILL",
        "the recorded promotion is carried out (same version, nothing retrained); batch "
        "committed once; no version left `candidate`",
    ),
    (
        f"{CRASH}::test_a_rerun_finishes_the_job_and_commits_the_batch_once[superseded]",
        "that SIGKILL, then another version becomes champion before the rerun",
        "the stale recorded promotion is not forced: its challenger `abandoned` (superseded), "
        "the new champion kept, batch committed once; the output, the record and its summary "
        "say `superseded` and name the champion",
    ),
    (
        f"{KILLED}::test_no_process_of_a_killed_monitor_outlives_it[training]",
        "`kill -9` of an `mlops monitor` command inside its challenger's MLflow training run "
        "(embedded defaults: the command runs Prefect's local server)",
        "within 15 s no process the command started is alive and the server's port is closed; "
        "no traceback",
    ),
    (
        f"{KILLED}::test_a_rerun_finishes_the_batch_and_fails_the_killed_training_run",
        "rerun after that kill",
        "the killed training run ends `FAILED` with `mlops.abandoned_reason`, its logged model "
        "`FAILED`; batch committed once; no run left `RUNNING`; no traceback",
    ),
    (
        f"{KILLED}::test_no_process_of_a_killed_monitor_outlives_it[alias]",
        "`kill -9` of an `mlops monitor` command with its decisions recorded, as `champion` is "
        "about to move",
        "within 15 s no process the command started is alive and the server's port is closed; "
        "no traceback",
    ),
    (
        f"{KILLED}::test_a_resumed_cycle_reports_the_figures_the_killed_one_recorded",
        "rerun after that kill",
        "the recorded decision is carried out and the realized error the killed cycle recorded "
        "is reported (not null); no traceback",
    ),
    (
        f"{LOCAL_DASK}::test_no_server_or_dask_worker_outlives_a_killed_command",
        "`kill -9` of a command whose task is running on a local Dask cluster",
        "its local Prefect server, Dask workers and helper processes all end within 15 s",
    ),
    (
        f"{FAULTS}::test_a_parquet_batch_with_a_broken_footer_is_quarantined",
        "Parquet file with a broken footer",
        "unreadable, rule `readable`, nothing parsed",
    ),
    (
        f"{FAULTS}::test_the_same_batch_under_a_new_name_is_handled_once",
        "the same batch delivered twice under another name",
        "second delivery is a duplicate: one decision run, one set of predictions",
    ),
    (
        f"{FAULTS}::test_landed_batches_reconcile_with_scored_plus_quarantined",
        "all of the above, counted",
        "landed = scored + quarantined; nothing left in landing",
    ),
    (
        f"{FAULTS}::test_quarantine_events_reach_prefect",
        "every quarantined batch",
        "`mlops.batch.quarantined` event per batch in Prefect",
    ),
    (
        f"{VALIDATION}::test_bom_in_the_header_is_stripped",
        "UTF-8 byte-order mark in the header",
        "accepted: the BOM is stripped, columns match",
    ),
    (
        f"{TRACKING}::test_a_malicious_pickle_model_is_refused_and_never_runs",
        "model file swapped for a pickle with a payload",
        "loading refused (not skops; MLflow refuses pickle); the payload never runs",
    ),
    (
        f"{TRACKING}::test_load_refuses_a_model_whose_hash_does_not_match",
        "model file altered after registration",
        "loading refused: sha256 differs from the registry's",
    ),
    (
        f"{TRACKING}::test_two_promotions_racing_from_the_same_champion_move_it_once",
        "two promotions racing from the same champion",
        "exactly one moves `champion`; the other gets ChampionChangedError",
    ),
    (
        f"{TRACKING}::test_rerun_after_a_crash_finishes_the_alias_moves",
        "crash between the `champion` and `previous` alias moves",
        "rerun finishes the promotion; no second move",
    ),
    (
        f"{TRACKING}::test_alias_to_deleted_version_counts_as_missing",
        "`champion` alias pointing to a deleted version",
        "treated as no champion, never loaded",
    ),
    (
        f"{TRACKING}::test_concurrent_decision_runs_all_land",
        "many decision runs logged at once on SQLite",
        "every run lands (no lost writes)",
    ),
    (
        f"{DISK_FULL}::test_a_full_artifact_volume_fails_the_cycle_cleanly_and_a_rerun_finishes_it"
        "[full before the cycle]",
        "MLflow artifact volume full (ENOSPC) when a retraining cycle starts",
        "cycle fails naming no space left and the path; champion unchanged; batch kept in "
        "landing, no ledger entry or decision; after freeing space the rerun completes: one "
        "ledger entry, one decision, a loadable champion",
    ),
    (
        f"{DISK_FULL}::test_a_full_artifact_volume_fails_the_cycle_cleanly_and_a_rerun_finishes_it"
        "[full after the version is registered]",
        "artifact volume fills up after the challenger is registered (its estimator hits ENOSPC)",
        "the half-logged version is tagged `failed`, never champion; champion unchanged; batch "
        "kept; rerun completes with one ledger entry and one decision",
    ),
    (
        f"{DISK_FULL}::test_a_full_artifact_volume_fails_the_cycle_cleanly_and_a_rerun_finishes_it"
        "[full when the decision is recorded]",
        "artifact volume fills up as the cycle records its decision (after the gate decided)",
        "nothing carried out (the alias moves only after the record); the challenger is "
        "`abandoned`; champion unchanged; rerun decides and commits once",
    ),
    (
        f"{DISK_FULL}::test_a_full_artifact_volume_fails_the_bootstrap_cleanly_and_a_rerun_"
        "finishes_it",
        "artifact volume full during the bootstrap",
        "no champion, no ledger entry, every history batch kept; the rerun trains the first "
        "champion and commits each batch once",
    ),
    (
        f"{SERVER_LOST}::test_a_cycle_whose_tracking_server_dies_fails_fast_and_a_rerun_finishes_it",
        "MLflow tracking server killed (SIGKILL) in the middle of a cycle",
        "cycle fails within 60 s naming the server and the refused connection; batch kept, no "
        "ledger entry or decision run; champion unchanged; after a restart the rerun gives one "
        "ledger entry and one decision run",
    ),
    (
        f"{STACK}::test_the_database_password_never_leaves_the_secrets_file",
        "secrets of the local stack",
        "the database password is only in secrets.env (mode 0600): not in output, logs, "
        "state, data, MLflow or Prefect artifacts",
    ),
    (
        f"{STACK}::test_promotion_waits_for_a_human_answer_given_through_the_api[no-answer]",
        "nobody answers a required approval",
        "rejected at the deadline; run completes; answer `timeout` recorded",
    ),
    (
        f"{COMPOSE_AUTH}::test_compose_auth_refuses_requests_without_valid_credentials_and_leaks_no_secret",
        "unauthenticated requests to the compose stack's Prefect and MLflow servers",
        "401 without or with wrong credentials; clients with credentials work; no secret in "
        "logs, command lines or run data (only the 0600 auth config holds the DB password)",
    ),
]


def run(cases: list[tuple[str, str, str]]) -> dict[str, str]:
    """Run the tests once; return the outcome per node id (passed, failed, skipped)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report}",
                *(node for node, _, _ in cases),
            ],
            cwd=REPO,
            env=env,
            check=False,
        )
        outcomes: dict[str, str] = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            module = case.get("classname", "").replace(".", "/") + ".py"
            node = f"{module}::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                outcomes[node] = "FAILED"
            elif case.find("skipped") is not None:
                outcomes[node] = "skipped"
            else:
                outcomes[node] = "passed"
    return outcomes


def shown_results(readme: str) -> dict[tuple[str, str], str]:
    """The result the README's table shows per (fault, outcome) row."""
    block = re.search(re.escape(START) + "(.*?)" + re.escape(END), readme, flags=re.S)
    found: dict[tuple[str, str], str] = {}
    for line in (block.group(1) if block else "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[2] not in ("result", "---"):
            found[(cells[0], cells[1])] = cells[2]
    return found


def table(cases: list[tuple[str, str, str]], outcomes: dict[str, str]) -> str:
    """The README table: fault, promised outcome, this run's result."""
    rows = ["| fault injected | outcome asserted | result |", "|---|---|---|"]
    for node, fault, outcome in cases:
        rows.append(f"| {fault} | {outcome} | {outcomes.get(node, 'not run')} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="Run only the cases whose test id holds this text (repeatable); the other rows "
        "keep the result the README shows for them.",
    )
    args = parser.parse_args(argv)
    chosen = [c for c in CASES if not args.only or any(o in c[0] for o in args.only)]
    if not chosen:
        raise SystemExit(f"no case matches {args.only}")
    outcomes = run(chosen)
    if args.only:
        shown = shown_results((REPO / "README.md").read_text(encoding="utf-8"))
        for node, fault, outcome in CASES:
            if node not in outcomes and (fault, outcome) in shown:
                outcomes[node] = shown[(fault, outcome)]
    text = table(CASES, outcomes)
    print(text)
    if args.update_readme:
        readme = REPO / "README.md"
        old = readme.read_text(encoding="utf-8")
        block = f"{START}\n{text}\n{END}"
        new, count = re.subn(re.escape(START) + ".*?" + re.escape(END), block, old, flags=re.S)
        if count != 1:
            raise SystemExit(f"README.md needs exactly one {START} ... {END} block")
        readme.write_text(new, encoding="utf-8")
    return 0 if all(outcomes.get(node) == "passed" for node, _, _ in chosen) else 1


if __name__ == "__main__":
    raise SystemExit(main())
