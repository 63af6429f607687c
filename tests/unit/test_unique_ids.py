"""Unique ids across chunks: two hash passes count what pandas' duplicated() counts."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from mlops_core.unique_ids import (
    FIRST_DUPLICATES,
    confirm_duplicates,
    duplicate_ids,
    id_hashes,
)

pytestmark = pytest.mark.unit


def _chunks(ids: pd.Series, sizes: list[int]) -> list[pd.Series]:
    edges = np.cumsum([0, *sizes])
    return [ids.iloc[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@pytest.mark.parametrize("seed", range(5))
def test_duplicated_rows_and_first_ids_match_pandas_across_uneven_chunks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = pd.Series(rng.integers(0, 3_000, 2_000)).astype(object)
    ids[rng.choice(2_000, 40, replace=False)] = None  # missing ids are not compared
    expected = ids.dropna()
    expected = expected[expected.duplicated(keep=False)]
    sizes = [1, 0, 700, 1, 1_298]

    found = duplicate_ids(_chunks(ids, sizes))

    assert found.rows == len(expected)
    assert found.first == tuple(expected.head(FIRST_DUPLICATES).tolist())


def test_an_id_read_as_a_number_in_one_chunk_and_as_text_in_another_is_one_id() -> None:
    # One CSV chunk may come out int, another float (a missing id), another text.
    found = duplicate_ids(
        [pd.Series([1, 2, 3]), pd.Series([4.0, np.nan, 2.0]), pd.Series(["5", "3", "x"])]
    )
    assert found.rows == 4  # 2 twice, 3 twice
    assert found.first == (2, 3, 2.0, "3")


@pytest.mark.parametrize(
    ("chunks", "repeated"),
    [
        ([[4.5, 2.0], [2]], 2),  # a float column with a fraction: 2.0 is still 2
        ([[4.5], ["4.5"]], 2),  # a fraction read as a number and as text
        ([["05"], [5]], 0),  # text that is not how 5 prints is another id
        ([["2.0"], [2]], 0),  # (in a column of text, "2.0" and "2" differ)
        ([["a", "b"], ["b", None, "a"]], 4),
        ([[2**62, -(2**62)], [2**62]], 2),
    ],
)
def test_ids_are_one_id_when_the_whole_batch_would_read_them_alike(
    chunks: list[list[object]], repeated: int
) -> None:
    assert duplicate_ids([pd.Series(chunk) for chunk in chunks]).rows == repeated


def test_a_collision_of_the_first_hash_alone_is_no_duplicate() -> None:
    # Every unique id made a candidate, as if all first hashes had collided: the
    # second hash still tells them apart.
    ids = pd.Series(np.arange(10_000))
    assert confirm_duplicates([ids], np.unique(id_hashes(ids))).rows == 0


def test_no_candidates_means_no_second_read() -> None:
    def never() -> Iterator[pd.Series]:
        raise AssertionError("the id column was read again")
        yield pd.Series(dtype=object)

    assert confirm_duplicates(never(), np.empty(0, np.uint64)).rows == 0
    assert duplicate_ids([pd.Series([1, 2, 3])]).rows == 0
