"""Batch validation: a batch checked against the use case's data contract.

The structural rules run in pandas (:mod:`mlops_core.contract_rules`); the value
rules run as Great Expectations suites (:mod:`tasks.gx_adapter`, the only module
that talks to GX). Every rule yields a :class:`~mlops_core.decisions.RuleResult`;
the gate decision itself is made in ``mlops_core.gate`` from those results.
Reading the file is :mod:`tasks.batch_file`'s job (the ``readable`` rule).

Rules and their severities:

==================  ===============================================  =================
rule                checks                                           severity
==================  ===============================================  =================
readable            the file could be read                           error
duplicate_columns   no column name appears twice                     error
column_present      every contract column is there                   error
extra_columns       no column outside the contract                   error (pass when
                                                                     allowed)
target_leak         the target column is not in the batch            error
empty_batch         the batch has at least one row                   error
period              every time value falls in a period               error
period_span         the batch falls in one period                    warn
min_rows            the batch has at least ``contract.min_rows``     error
dtype               numeric/integer values parse as finite (whole)   error
                    numbers
boolean             boolean values are in {0, 1, True, False}        error
unique_id           ids are unique (when ``contract.unique_id``)     error
range               values within [min, max]                         column severity
categories          values in the allowed categories                 column severity
null_share          missing share <= ``max_null_share``              column severity
some_values         at least one value present (a column emptied by  error (unless
                    a broken export), unless ``max_null_share`` is 1  all may be missing)
==================  ===============================================  =================

Type rules are errors because a model cannot consume a text value in a numeric
feature; value rules take the column's severity so a contract can merely warn.
"""

from __future__ import annotations

import pandas as pd

from mlops_core.config import UseCase
from mlops_core.contract_rules import check_structure
from mlops_core.decisions import RuleResult
from tasks.gx_adapter import run_contract_suite


def validate_frame(frame: pd.DataFrame, usecase: UseCase) -> tuple[RuleResult, ...]:
    """Check a batch against the use case's data contract.

    Structural rules run in pandas; value rules run as one Great Expectations
    validation over the contract columns present in the batch. Every rule
    yields a result, passed or failed, so the record shows what was checked.

    Args:
        frame: The batch as read (not modified, not copied whole).
        usecase: The use case whose ``contract`` and ``data`` roles apply.

    Returns:
        One RuleResult per rule and column, structural rules first.
    """
    structure = check_structure(frame, usecase)
    if structure.values is None:
        return structure.results
    values = run_contract_suite(structure.values, usecase, skip_range=structure.unparsable)
    return structure.results + tuple(values)
