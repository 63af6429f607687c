"""Schema evolution: what a contract change means for the model in production.

A model is trained under one contract and keeps serving while the contract
moves on. :func:`compare_contract` compares the columns the champion was
trained under (its own inputs among them) with the current contract and
returns a :class:`SchemaDecision`:

- ``compatible``: the champion can keep scoring with the inputs it knows. A
  column added (a feature or not), a column dropped that the champion does not
  read, a range widened or narrowed, a category added or removed, a feature
  switched on or off, a column's type changed between ``integer`` and
  ``numeric`` (both reach the model as numbers). New features take effect at
  the next retrain; until then the champion ignores them.
- ``refused``: the champion cannot score under the new contract: a column it
  reads was dropped, or its type changed in a way that changes how the model
  encodes it (a number became a category, a boolean became a number). Nothing
  may be read or written for a batch under such a contract.
- ``unchanged``: nothing the champion knows changed.

:func:`usecase_for_inputs` gives the use case as a model with given inputs
sees it: the same use case whose feature columns are that model's, so every
computation on the champion (scoring, realized performance on older rows,
drift, the label-free estimate, the promotion gate) reads only its own inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from mlops_core.config import ColumnContract, ContractConfig, UseCase
from mlops_core.decisions import Value
from mlops_core.reasons import ReasonCode
from mlops_core.sentences import sentence

ColumnType = Literal["numeric", "integer", "categorical", "boolean"]

#: How a column type reaches a model (``mlops_core.features``) and drift: a type may
#: change within one class without changing what the model reads.
_ENCODING: dict[str, str] = {
    "numeric": "number",
    "integer": "number",
    "boolean": "boolean",
    "categorical": "category",
}

ChangeKind = Literal[
    "column_added",
    "column_dropped",
    "feature_added",
    "feature_removed",
    "type_changed",
    "range_widened",
    "range_narrowed",
    "category_added",
    "category_removed",
]


class KnownColumn(Value):
    """One contract column as a model was trained under it."""

    name: str = Field(min_length=1, description="Column name.")
    type: ColumnType = Field(description="Contract type at training time.")
    feature: bool = Field(description="A model input at training time.")
    min: float | None = Field(None, description="Smallest value the contract allowed.")
    max: float | None = Field(None, description="Largest value the contract allowed.")
    categories: tuple[str, ...] | None = Field(
        None, description="Categories the contract allowed; None allowed any."
    )


class SchemaChange(Value):
    """One difference between the champion's training contract and the current one."""

    kind: ChangeKind
    column: str
    code: ReasonCode = Field(description="Stable reason code, e.g. 'new_feature_next_retrain'.")
    compatible: bool = Field(description="Whether the champion can keep scoring with it.")
    champion_input: bool = Field(description="The champion reads this column.")
    message: str = Field(description="Plain-language sentence: what changed and what follows.")
    before: str | None = Field(None, description="The champion's side, as text.")
    after: str | None = Field(None, description="The current contract's side, as text.")


class SchemaDecision(Value):
    """Whether the champion can keep serving under the current contract, and what changed."""

    action: Literal["unchanged", "compatible", "refused"]
    champion_version: str | None = Field(description="The version compared.")
    basis: Literal["training_contract", "feature_names"] = Field(
        description="training_contract: the champion's own record of the contract it was "
        "trained under; feature_names: a model recorded before that existed, of which only "
        "its input names are known (types, ranges and categories then count as unchanged)."
    )
    champion_inputs: tuple[str, ...] = Field(description="The columns the champion reads.")
    new_features: tuple[str, ...] = Field(
        description="Features of the current contract the champion does not read: they take "
        "effect when a model is next trained."
    )
    changes: tuple[SchemaChange, ...] = ()

    @property
    def refused_changes(self) -> tuple[SchemaChange, ...]:
        """The changes the champion cannot live with."""
        return tuple(c for c in self.changes if not c.compatible)

    def refusal_message(self) -> str:
        """One line naming every refused column and what to do instead."""
        version = self.champion_version or "?"
        why = "; ".join(c.message for c in self.refused_changes)
        return (
            f"contract change refused: champion version {version} cannot score under it: {why}. "
            "No batch was read or written"
        )


class SchemaChangeRefused(ValueError):
    """The current contract drops or retypes an input the champion reads.

    ``str()`` is the one line shown to a user; ``decision`` holds the typed
    comparison.
    """

    def __init__(self, source: str, decision: SchemaDecision) -> None:
        self.source = source
        self.decision = decision
        super().__init__(f"{source}: {decision.refusal_message()}")


def contract_columns(contract: ContractConfig) -> tuple[KnownColumn, ...]:
    """The contract's columns as a model trained under it records them."""
    return tuple(
        KnownColumn(
            name=c.name,
            type=c.type,
            feature=c.feature,
            min=c.min,
            max=c.max,
            categories=c.categories,
        )
        for c in contract.columns
    )


def _bounds(low: float | None, high: float | None) -> str:
    return f"[{'-inf' if low is None else f'{low:g}'}, {'+inf' if high is None else f'{high:g}'}]"


def _wider(old: float | None, new: float | None, *, low: bool) -> bool | None:
    """True: ``new`` allows more than ``old``; False: less; None: the same bound."""
    if old == new:
        return None
    if new is None:
        return True
    if old is None:
        return False
    return new < old if low else new > old


def _categories(values: tuple[str, ...] | None) -> str:
    return "any" if values is None else ", ".join(values)


def _column_changes(
    known: KnownColumn, now: ColumnContract, reads: bool, version: str
) -> list[SchemaChange]:
    """Differences in type, range and categories of one column in both contracts."""
    name = known.name
    out: list[SchemaChange] = []
    if known.type != now.type:
        same_encoding = _ENCODING[known.type] == _ENCODING[now.type]
        if reads and not same_encoding:
            out.append(
                SchemaChange(
                    kind="type_changed",
                    column=name,
                    code=ReasonCode.INPUT_TYPE_CHANGED,
                    compatible=False,
                    champion_input=True,
                    message=sentence(
                        ReasonCode.INPUT_TYPE_CHANGED,
                        column=name,
                        before=known.type,
                        after=now.type,
                        version=version,
                    ),
                    before=known.type,
                    after=now.type,
                )
            )
        else:
            code = ReasonCode.TYPE_CHANGED_SAME_ENCODING if reads else ReasonCode.TYPE_CHANGED
            out.append(
                SchemaChange(
                    kind="type_changed",
                    column=name,
                    code=code,
                    compatible=True,
                    champion_input=reads,
                    message=sentence(
                        code, column=name, before=known.type, after=now.type, version=version
                    ),
                    before=known.type,
                    after=now.type,
                )
            )
    if now.type in ("numeric", "integer") and known.type in ("numeric", "integer"):
        lower = _wider(known.min, now.min, low=True)
        upper = _wider(known.max, now.max, low=False)
        if lower is not None or upper is not None:
            widened = bool(lower) or bool(upper)
            before, after = _bounds(known.min, known.max), _bounds(now.min, now.max)
            code = ReasonCode.RANGE_WIDENED if widened else ReasonCode.RANGE_NARROWED
            out.append(
                SchemaChange(
                    kind="range_widened" if widened else "range_narrowed",
                    column=name,
                    code=code,
                    compatible=True,
                    champion_input=reads,
                    message=sentence(
                        code,
                        column=name,
                        before=before,
                        after=after,
                        version=version,
                        reads=reads,
                    ),
                    before=before,
                    after=after,
                )
            )
    if now.type == "categorical" and known.type == "categorical":
        old, new = known.categories, now.categories
        if old != new:
            added = () if new is None or old is None else tuple(c for c in new if c not in old)
            removed = () if old is None or new is None else tuple(c for c in old if c not in new)
            if new is None or added:
                out.append(
                    SchemaChange(
                        kind="category_added",
                        column=name,
                        code=ReasonCode.CATEGORY_ADDED,
                        compatible=True,
                        champion_input=reads,
                        message=sentence(
                            ReasonCode.CATEGORY_ADDED,
                            column=name,
                            added=None if new is None else added,
                            version=version,
                            reads=reads,
                        ),
                        before=_categories(old),
                        after=_categories(new),
                    )
                )
            if old is None or removed:
                out.append(
                    SchemaChange(
                        kind="category_removed",
                        column=name,
                        code=ReasonCode.CATEGORY_REMOVED,
                        compatible=True,
                        champion_input=reads,
                        message=sentence(
                            ReasonCode.CATEGORY_REMOVED,
                            column=name,
                            removed=None if old is None else removed,
                            now=_categories(new),
                        ),
                        before=_categories(old),
                        after=_categories(new),
                    )
                )
    return out


def compare_contract(
    contract: ContractConfig,
    champion_inputs: Sequence[str],
    known: Sequence[KnownColumn] | None,
    *,
    champion_version: str | None = None,
) -> SchemaDecision:
    """Compare the contract a champion was trained under with the current one.

    Args:
        contract: The current contract (the use-case file as it is now).
        champion_inputs: The columns the champion reads (its training profile's
            feature names).
        known: Every contract column at the champion's training time, or None
            for a champion recorded before models kept it: only its input
            names are then compared (a dropped input is still refused).
        champion_version: The champion's version, for the messages.

    Returns:
        The decision: ``refused`` when a column the champion reads was dropped
        or changed encoding, else ``compatible`` with every change listed, or
        ``unchanged``.
    """
    version = champion_version or "?"
    reads = tuple(champion_inputs)
    current = {c.name: c for c in contract.columns}
    if known is None:
        basis = "feature_names"
        # Only the input names are known: every column of the current contract
        # counts as it is now, and an input it lacks as dropped.
        known_cols = [
            KnownColumn(
                name=c.name,
                type=c.type,
                feature=c.name in reads,
                min=c.min,
                max=c.max,
                categories=c.categories,
            )
            for c in contract.columns
        ] + [KnownColumn(name=n, type="numeric", feature=True) for n in reads if n not in current]
    else:
        basis = "training_contract"
        known_cols = list(known)
    before = {c.name: c for c in known_cols}
    changes: list[SchemaChange] = []
    for col in known_cols:
        uses = col.name in reads
        now = current.get(col.name)
        if now is None:
            if uses:
                changes.append(
                    SchemaChange(
                        kind="column_dropped",
                        column=col.name,
                        code=ReasonCode.INPUT_DROPPED,
                        compatible=False,
                        champion_input=True,
                        message=sentence(
                            ReasonCode.INPUT_DROPPED, column=col.name, version=version
                        ),
                        before=col.type if known is not None else None,
                    )
                )
            else:
                changes.append(
                    SchemaChange(
                        kind="column_dropped",
                        column=col.name,
                        code=ReasonCode.COLUMN_DROPPED,
                        compatible=True,
                        champion_input=False,
                        message=sentence(
                            ReasonCode.COLUMN_DROPPED, column=col.name, version=version
                        ),
                        before=col.type if known is not None else None,
                    )
                )
            continue
        changes += _column_changes(col, now, uses, version)
        if uses and not now.feature:
            changes.append(
                SchemaChange(
                    kind="feature_removed",
                    column=col.name,
                    code=ReasonCode.FEATURE_REMOVED_NEXT_RETRAIN,
                    compatible=True,
                    champion_input=True,
                    message=sentence(
                        ReasonCode.FEATURE_REMOVED_NEXT_RETRAIN, column=col.name, version=version
                    ),
                )
            )
        elif not uses and now.feature and not col.feature:
            changes.append(
                SchemaChange(
                    kind="feature_added",
                    column=col.name,
                    code=ReasonCode.NEW_FEATURE_NEXT_RETRAIN,
                    compatible=True,
                    champion_input=False,
                    message=sentence(
                        ReasonCode.NEW_FEATURE_NEXT_RETRAIN,
                        column=col.name,
                        version=version,
                        added=False,
                    ),
                )
            )
    for now in contract.columns:
        if now.name in before:
            continue
        code = ReasonCode.NEW_FEATURE_NEXT_RETRAIN if now.feature else ReasonCode.COLUMN_ADDED
        changes.append(
            SchemaChange(
                kind="column_added",
                column=now.name,
                code=code,
                compatible=True,
                champion_input=False,
                message=sentence(code, column=now.name, version=version, added=True),
                after=now.type,
            )
        )
    new_features = tuple(n for n in contract.feature_names if n not in reads)
    refused = any(not c.compatible for c in changes)
    return SchemaDecision(
        action="refused" if refused else ("compatible" if changes else "unchanged"),
        champion_version=champion_version,
        basis=basis,
        champion_inputs=reads,
        new_features=new_features,
        changes=tuple(changes),
    )


def usecase_for_inputs(usecase: UseCase, inputs: Sequence[str]) -> UseCase:
    """The use case as a model reading ``inputs`` sees it.

    The same use case (policies, roles, rules) whose feature columns are
    exactly ``inputs``, in that order, each as the current contract types it;
    the other columns stay, as non-features. Every computation on that model
    (``features.model_input``, drift, the estimate, the gate) then reads only
    what it was trained on.

    Args:
        usecase: The current use case.
        inputs: The model's input columns, in its order.

    Returns:
        ``usecase`` itself when its features are already ``inputs``.

    Raises:
        ValueError: An input is not a column of the contract (compare the
            contracts first: :func:`compare_contract` refuses that case).
    """
    wanted = tuple(inputs)
    if wanted == usecase.contract.feature_names:
        return usecase
    by_name = {c.name: c for c in usecase.contract.columns}
    absent = [n for n in wanted if n not in by_name]
    if absent:
        raise ValueError(f"the contract has no column {', '.join(map(repr, absent))}")
    columns = [by_name[n].model_copy(update={"feature": True}) for n in wanted] + [
        c.model_copy(update={"feature": False})
        for c in usecase.contract.columns
        if c.name not in wanted
    ]
    contract = usecase.contract.model_copy(update={"columns": tuple(columns)})
    return usecase.model_copy(update={"contract": contract})
