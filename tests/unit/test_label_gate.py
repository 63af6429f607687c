"""The label gate: each fault of a label file has one rule, counted, never silent."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_core.config import LabelPolicy
from mlops_core.label_gate import IdIndex, check_label_file

pytestmark = pytest.mark.unit

SCORED = IdIndex(pd.Index([str(i) for i in range(100)]))
NO_LABELS = pd.Series(dtype=object)


def gate(frame: pd.DataFrame, *, task="regression", known=NO_LABELS, **policy):
    return check_label_file(
        frame,
        file="labels_007.csv",
        sha256="abc",
        id_column="id",
        target_column="y",
        task=task,
        scored_ids=SCORED,
        known=known,
        policy=LabelPolicy(**policy),
    )


def clean_file(rows: int = 50) -> pd.DataFrame:
    return pd.DataFrame({"id": range(rows), "y": [float(i) for i in range(rows)]})


def rules(decision) -> dict[str, int]:
    return {f.rule: f.rows for f in decision.findings}


def test_a_clean_file_is_accepted_whole_with_its_integer_ids() -> None:
    decision, accepted = gate(clean_file())
    assert decision.action == "accept" and decision.findings == ()
    assert decision.accepted_rows == decision.rows == 50 == len(accepted)
    assert pd.api.types.is_integer_dtype(accepted["id"])


def test_conflicting_duplicates_leave_out_every_row_of_their_ids() -> None:
    frame = clean_file()
    dup = frame.iloc[:5].assign(y=lambda f: f["y"] + 100.0)  # ids 0-4, other targets
    same = frame.iloc[5:7]  # ids 5-6 again, same targets
    decision, accepted = gate(pd.concat([frame, dup, same], ignore_index=True))
    assert decision.action == "accept"
    assert rules(decision) == {"conflicting_duplicates": 10, "duplicate_ids": 2}
    assert set(accepted["id"]) == set(range(5, 50)) and accepted["id"].is_unique
    assert decision.dropped_rows == 12


def test_a_text_target_of_a_regression_is_left_out_and_named() -> None:
    frame = clean_file().astype({"y": object})
    frame.loc[3, "y"] = "abc"
    decision, accepted = gate(frame)
    found = {f.rule: f for f in decision.findings}
    assert found["target_not_numeric"].rows == 1
    assert "'abc'" in found["target_not_numeric"].message
    assert found["target_not_numeric"].sample_ids == ("3",)
    assert 3 not in set(accepted["id"]) and accepted["y"].dtype.kind == "f"


def test_blank_targets_are_left_out_and_counted() -> None:
    frame = clean_file()
    frame.loc[:4, "y"] = None
    decision, accepted = gate(frame)
    assert rules(decision) == {"target_missing": 5} and len(accepted) == 45


def test_too_many_malformed_rows_quarantine_the_whole_file() -> None:
    frame = clean_file().astype({"y": object})
    frame.loc[:14, "y"] = "n/a"  # 30% of the rows, over the 20% default
    decision, accepted = gate(frame)
    assert decision.action == "quarantine" and accepted.empty
    assert "15 of 50 rows (30%) are malformed" in decision.reason
    assert gate(frame, max_bad_row_share=0.5)[0].action == "accept"


def test_blank_targets_never_quarantine_a_file_they_are_labels_not_known() -> None:
    frame = clean_file()
    frame.loc[:39, "y"] = None  # 80% of the rows: a sensor that failed for days
    decision, accepted = gate(frame)
    assert decision.action == "accept" and len(accepted) == 10
    assert {f.rule: f.rows for f in decision.findings} == {"target_missing": 40}


def test_a_wrong_header_or_an_empty_file_is_quarantined_with_its_columns() -> None:
    decision, _ = gate(pd.DataFrame({"instant": [1], "count": [3.0]}))
    assert decision.action == "quarantine"
    assert "no column 'id', 'y'" in decision.reason and "instant, count" in decision.reason
    assert gate(clean_file(0))[0].reason == "the label file holds no row"


def test_ids_never_scored_are_kept_and_counted() -> None:
    frame = pd.DataFrame({"id": [1, 2, 500, 501], "y": [1.0, 2.0, 3.0, 4.0]})
    decision, accepted = gate(frame)
    finding = decision.findings[0]
    assert finding.rule == "unknown_ids" and finding.rows == 2 and not finding.dropped
    assert len(accepted) == 4 and decision.dropped_rows == 0


@pytest.mark.parametrize(("policy", "kept"), [("apply", 99.0), ("refuse", 1.0)])
def test_a_correction_of_an_earlier_label_is_applied_or_refused(policy, kept) -> None:
    known = pd.Series([1.0, 2.0], index=["1", "2"])
    frame = pd.DataFrame({"id": [1, 2, 3], "y": [99.0, 2.0, 3.0]})
    decision, accepted = gate(frame, known=known, corrections=policy)
    finding = decision.findings[0]
    assert finding.rule == "corrections" and finding.rows == 1 and finding.sample_ids == ("1",)
    assert finding.dropped is (policy == "refuse")
    assert decision.corrections == (1 if policy == "apply" else 0)
    # The same value again (2.0 for id 2) is no correction.
    got = dict(zip(accepted["id"], accepted["y"], strict=True))
    assert got.get(1, 1.0) == kept and got[2] == 2.0


def test_classification_targets_are_any_class_and_ids_with_gaps_stay_integers() -> None:
    frame = pd.DataFrame({"id": [1.0, None, 3.0], "y": ["UP", "DOWN", "UP"]})
    decision, accepted = gate(frame, task="classification", max_bad_row_share=0.5)
    assert rules(decision) == {"id_missing": 1}
    assert list(accepted["id"]) == [1, 3] and list(accepted["y"]) == ["UP", "UP"]


def test_targets_outside_the_target_rules_are_left_out_under_their_own_rule() -> None:
    frame = clean_file()
    frame.loc[[3, 4], "y"] = [-1.0, -0.5]  # a negative count
    frame.loc[5, "y"] = float("inf")
    decision, accepted = gate(frame, target_min=0.0)
    found = {f.rule: f for f in decision.findings}
    assert decision.action == "accept" and set(found) == {"target_out_of_range"}
    assert found["target_out_of_range"].rows == 3
    assert found["target_out_of_range"].sample_ids == ("3", "4", "5")
    assert "at least 0" in found["target_out_of_range"].message
    assert not {3, 4, 5} & set(accepted["id"]) and len(accepted) == 47
    # The bounds are inclusive, and without a rule the same file passes whole.
    assert (
        rules(gate(frame.loc[~frame["id"].isin([3, 4, 5])], target_min=0.0, target_max=49.0)[0])
        == {}
    )
    assert len(gate(frame.loc[frame["id"] != 5])[1]) == 49


def test_out_of_range_targets_count_towards_the_bad_row_share() -> None:
    frame = clean_file()
    frame.loc[:10, "y"] = 1000.0  # 11 rows of 50 (22%), over the 20% default
    decision, accepted = gate(frame, target_min=0.0, target_max=100.0)
    assert decision.action == "quarantine" and accepted.empty
    assert "11 of 50 rows (22%) are malformed" in decision.reason
    assert rules(decision) == {"target_out_of_range": 11}
    kept = gate(frame, target_min=0.0, target_max=100.0, max_bad_row_share=0.25)
    assert kept[0].action == "accept" and len(kept[1]) == 39


def test_a_new_class_is_kept_and_counted_a_misspelled_one_is_left_out() -> None:
    frame = pd.DataFrame({"id": range(20), "y": ["UP", "DOWN"] * 10})
    frame.loc[0, "y"] = "FLAT"  # a class the model never saw: real data
    frame.loc[1, "y"] = " down"  # DOWN misspelled
    decision, accepted = gate(frame, task="classification", target_classes=("DOWN", "UP"))
    found = {f.rule: f for f in decision.findings}
    assert found["target_new_class"].rows == 1 and not found["target_new_class"].dropped
    assert "'FLAT'" in found["target_new_class"].message
    assert found["target_class_misspelled"].rows == 1 and found["target_class_misspelled"].dropped
    assert "' down' for 'DOWN'" in found["target_class_misspelled"].message
    assert set(accepted["y"]) == {"UP", "DOWN", "FLAT"} and 1 not in set(accepted["id"])


def test_a_file_of_misspelled_classes_is_quarantined_whole() -> None:
    frame = pd.DataFrame({"id": range(20), "y": ["up", "down"] * 10})  # a changed export
    decision, _ = gate(frame, task="classification", target_classes=("DOWN", "UP"))
    assert decision.action == "quarantine" and rules(decision) == {"target_class_misspelled": 20}


def test_integer_classes_match_their_text_even_when_read_as_floats() -> None:
    frame = pd.DataFrame({"id": range(4), "y": [1.0, 0.0, None, 2.0]})
    decision, accepted = gate(frame, task="classification", target_classes=[0, 1])
    assert rules(decision) == {"target_missing": 1, "target_new_class": 1}
    assert len(accepted) == 3


@pytest.mark.parametrize(
    ("labels", "key"),
    [
        ({"target_min": 5.0, "target_max": 1.0}, "labels.target_min"),
        ({"target_classes": ["UP", "up "]}, "labels.target_classes"),
    ],
)
def test_inconsistent_target_rules_are_refused(labels, key) -> None:
    with pytest.raises(ValueError, match=key):
        LabelPolicy(**labels)
