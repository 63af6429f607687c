"""A retail demand scenario with scheduled, documented failures.

The simulator produces what a weekly retail forecasting model sees in
production: one batch of features per period (one row per store and item),
the units sold for that batch ``label_delay`` periods later, and a labeled
history to train the first champion on. On top of a stable demand model it
schedules the events a continuous ML system has to cope with, and exports
their ground truth so tests and demos can check that each one was noticed:

- ``covariate_shift``: the inputs move, the demand model does not, so
  P(target | features) is unchanged. Two variants:

  * ``inflation`` (the default): prices inflate. Demand reacts through the
    same price elasticity as before; only the prices move (into a range the
    champion never saw).
  * ``mix``: the batch mix moves toward rows that are harder to forecast but
    common in the training data. A replenishment rule takes over most items
    outside a band of last week's sales (as a share of the store's capacity),
    so the batch holds mostly items inside the band: bestsellers (whose units
    swing more, so the regression error grows) or close calls near the
    reorder point (where the classifier is least sure). The rows that remain
    are exactly the rows the same world produces without the event; rows are
    kept on their features plus an independent draw, so P(target | features)
    is provably unchanged and a model retrained on the new mix gains little.
- ``concept_drift``: the promotion uplift changes. The same features now mean
  different demand, so the champion's error grows although inputs look alike.
- ``corrupt_batch``: one batch arrives with a renamed column or a column of
  the wrong type; it must be stopped by the data contract.
- ``demand_spike``: in some stores last week's recorded units and this week's
  demand jump several times over. A model fed the spiked ``units_last_week``
  forecasts more than the store can hold, while realised sales are capped by
  ``store_capacity`` (a store cannot sell stock it does not have): this is
  what the capacity guardrail is for.

Demand model of store ``s``, item ``i``, period ``p`` (all effects multiply)::

    base[s, i]                      store size x item popularity x store affinity
    * exp(level[s, i, p])           persistent AR(1) fluctuation (autocorrelation)
    * (price / ref_price[cat]) ** -elasticity[cat]
    * (1 + uplift(p) * promotion)
    * exp(temp_effect[cat] * (temperature - 12) / 10)
    * (1 + holiday_uplift[cat] * holiday)
    * spike_factor                  only for spiked stores in a spike period
    * lognormal noise

``units_sold`` is a Poisson draw around that mean, capped at the store's
capacity. It is a float column holding whole units (floats keep CSV round
trips, metrics and regressors free of integer casting surprises).
``units_last_week`` is the same item's ``units_sold`` of the previous period
(period 0 uses a warm-up week drawn from the same model), except in a spike:
then it is the store-reported figure including last week's pre-orders, which
is why it may exceed both last week's label and the store's capacity.

Tasks: with ``task="regression"`` (the default) the target is ``units_sold``.
With ``task="classification"`` the batches are the same and the target is
``demand_up``: "up" when the item sells more than a quarter of the store's
capacity (``REORDER_POINT_SHARE``), which is about what the store's typical
item sells in a week and the point at which the shelf needs a mid-week refill;
"down" otherwise. About half the rows are "up", and a gradient-boosted
classifier trained on the history is right about 80% of the time on stable
weeks. Labels are strings on purpose: consumers must not assume 0/1 targets.

Stable periods: ``ground_truth()`` marks each period ``stable`` when no event
is in effect (drift events from their period on, a spike in its period and the
next one, whose last-week units still carry the spike, a corrupt batch in its
period), so false alarms can be counted on stable periods only.
:func:`evaluation_scenarios` builds scenarios with a single drift event at a
known period after a long stable stretch, for measuring detection.

Determinism: every random draw of period ``p`` comes from a generator seeded
with ``(seed, p)`` through :class:`numpy.random.SeedSequence`, and the store
and item catalogue from ``(seed, catalogue)``; the rows a ``mix`` shift keeps
come from a separate ``(seed, mix, p)`` stream, so the world behind the batch
is the same with or without the shift. A period's rows therefore do not
depend on the order in which periods are requested, nor on how many live
periods are simulated after it.

The module is pure: it builds DataFrames and dictionaries; the caller writes
them to files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

EventKind = Literal["covariate_shift", "concept_drift", "corrupt_batch", "demand_spike"]
TaskKind = Literal["regression", "classification"]

DRIFT_EVENT_KINDS: tuple[str, ...] = ("covariate_shift", "concept_drift")
"""Event kinds that change the data for good from their period on."""

CATEGORIES: tuple[str, ...] = ("grocery", "household", "electronics", "apparel")
"""Item categories; each item keeps its category in every store and period."""

BATCH_COLUMNS: tuple[str, ...] = (
    "row_id",
    "period",
    "store",
    "category",
    "price",
    "promotion",
    "temperature",
    "holiday",
    "units_last_week",
    "store_capacity",
)
"""Columns of a clean feature batch, in order."""

FEATURE_COLUMNS: tuple[str, ...] = BATCH_COLUMNS[2:]
"""Columns a model may use (everything except the id and the period)."""

TARGET_COLUMN = "units_sold"
"""Target of the regression task (units sold in the week)."""

CLASSIFICATION_TARGET = "demand_up"
"""Target of the classification task: DEMAND_UP or DEMAND_DOWN."""

DEMAND_UP, DEMAND_DOWN = "up", "down"
"""Labels of the classification target ("up" sorts last: the positive class)."""

REORDER_POINT_SHARE = 0.25
"""``demand_up`` is "up" when units_sold > REORDER_POINT_SHARE * store_capacity.
Capacity is four times the store's typical weekly units of an item, so this is
"the item sells more than the store's typical item": its shelf needs a
mid-week refill."""

BASE_PROMOTION_UPLIFT = 0.30
"""Relative extra demand of a promoted item before any concept drift."""

PROMOTION_RATE = 0.18
"""Share of store-item rows on promotion in a week."""

START_WEEK = 47
"""Week of year (1..52) of period 0: late November. The history holds the two
big shopping weeks of the year and ends with calm January weeks (so a holdout
taken from its end is representative); the live periods run from winter into
summer, so temperature drifts with the season, as it does in reality."""

HOLIDAY_WEEKS: frozenset[int] = frozenset({47, 51, 14, 22})
"""Weeks with a shopping holiday: Black Friday, Christmas, Easter, Whitsun."""

_BASE_UNITS = 22.0  # median weekly units of an item at its category's reference price
_CAPACITY_FACTOR = 4.0  # store capacity in units of the store's median item demand
_LADDER_TOP, _LADDER_BOTTOM = 2.0, 0.5  # size of the largest and of the smallest store
_LEVEL_AR = 0.6  # persistence of an item's demand level from week to week
_LEVEL_SD = 0.12  # innovation of the log demand level per week
_NOISE_SD = 0.08  # extra week-to-week multiplicative noise on top of Poisson
_PRICE_NOISE_SD = 0.03  # weekly shelf-price jitter around the item's base price
# A temperate maritime climate: about 3 degC in January, 16 degC in July.
_TEMP_MEAN, _TEMP_AMPLITUDE, _TEMP_PEAK_WEEK = 9.5, 6.5, 29
_TEMP_WEEKLY_SD = 2.0  # weather: store-week deviation from the seasonal normal
_CLIMATE_SD = 2.5  # inland vs coastal stores: spread of their mean temperature

# Random-stream tags: the catalogue, the warm-up week and the simulated periods
# never share a stream, whatever the seed.
_STREAM_CATALOGUE, _STREAM_WARMUP, _STREAM_PERIOD, _STREAM_MIX = 0, 1, 2, 3


@dataclass(frozen=True)
class _CategoryProfile:
    ref_price: float  # typical shelf price (EUR)
    elasticity: float  # units fall as (price / ref_price) ** -elasticity
    temp_effect: float  # log-demand change per +10 degC
    holiday_uplift: float  # relative extra demand in a holiday week


_PROFILES: dict[str, _CategoryProfile] = {
    "grocery": _CategoryProfile(4.0, 0.6, 0.05, 0.25),
    "household": _CategoryProfile(9.0, 0.9, 0.0, 0.10),
    "electronics": _CategoryProfile(120.0, 1.4, -0.05, 0.40),
    "apparel": _CategoryProfile(35.0, 1.1, -0.15, 0.30),
}

# Allowed detail keys per event kind, with their defaults (None: required).
_DETAIL_DEFAULTS: dict[str, dict[str, float | int | str | None]] = {
    "covariate_shift": {
        "variant": "inflation",
        "inflation": 0.35,
        "creep_per_period": 0.01,
        "last_week_share_min": 0.35,
        "last_week_share_max": 100.0,
        "keep_outside": 0.15,
    },
    "concept_drift": {"promotion_uplift": 1.5},
    "corrupt_batch": {"variant": "rename", "column": "price", "renamed_to": None},
    "demand_spike": {"stores": None, "factor": 5.0},
}

# Details that belong to one covariate_shift variant only.
_COVARIATE_VARIANT_DETAILS: dict[str, frozenset[str]] = {
    "inflation": frozenset({"inflation", "creep_per_period"}),
    "mix": frozenset({"last_week_share_min", "last_week_share_max", "keep_outside"}),
}

_WRONG_TYPE_UNITS = {
    "price": "EUR",
    "temperature": "degC",
    "units_last_week": "units",
    "store_capacity": "units",
}


def _check_number(params: dict[str, Any], key: str, low: float, high: float, where: str) -> None:
    value = params[key]
    if isinstance(value, str) or not low <= float(value) <= high:
        raise ValueError(f"{where}: {key} must be a number in [{low:g}, {high:g}], got {value!r}")


def store_name(index: int) -> str:
    """Name of the store with 0-based ``index`` ("S01" for 0)."""
    return f"S{index + 1:02d}"


class ScenarioEvent(BaseModel):
    """One scheduled event of the scenario, with its plain-language explanation.

    ``details`` per kind (defaults in brackets):

    - covariate_shift: ``variant`` ["inflation"] or "mix".
      inflation: ``inflation`` [0.35] price jump from ``period`` on,
      ``creep_per_period`` [0.01] further relative inflation every period after.
      mix: from ``period`` on a row stays in the batch when its
      ``units_last_week / store_capacity`` lies in [``last_week_share_min``
      [0.35], ``last_week_share_max`` [100]], and otherwise only with
      probability ``keep_outside`` [0.15]; the defaults keep bestsellers.
    - concept_drift: ``promotion_uplift`` [1.5] relative extra demand of a promoted
      item from ``period`` on (before: 0.30; a negative value reverses the effect).
    - corrupt_batch: ``variant`` ["rename"] or "wrong_type", ``column`` ["price"],
      ``renamed_to`` [the column name capitalised] for the rename variant.
    - demand_spike: ``stores`` (required, comma-separated store names such as
      "S04,S06"), ``factor`` [5.0] multiplier on demand and last week's units.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind = Field(description="What happens.")
    period: int = Field(ge=0, description="Period at which the event happens or starts.")
    description: str = Field(min_length=1, description="The event in plain language.")
    details: dict[str, float | int | str] = Field(
        default_factory=dict, description="Parameters of the event (see the class doc)."
    )

    @model_validator(mode="after")
    def _known_details(self) -> ScenarioEvent:
        allowed = _DETAIL_DEFAULTS[self.kind]
        unknown = sorted(set(self.details) - set(allowed))
        if unknown:
            raise ValueError(
                f"{self.kind} event at period {self.period}: unknown detail(s) "
                f"{', '.join(unknown)}; allowed: {', '.join(allowed)}"
            )
        params = self.params()
        where = f"{self.kind} event at period {self.period}"
        if self.kind == "covariate_shift":
            variant = params["variant"]
            if variant not in _COVARIATE_VARIANT_DETAILS:
                raise ValueError(f"{where}: variant must be 'inflation' or 'mix', got {variant!r}")
            foreign = sorted(
                key
                for other, keys in _COVARIATE_VARIANT_DETAILS.items()
                if other != variant
                for key in keys & set(self.details)
            )
            if foreign:
                raise ValueError(
                    f"{where}: detail(s) {', '.join(foreign)} do not apply to the {variant} variant"
                )
            _check_number(params, "inflation", -0.9, 10.0, where)
            _check_number(params, "creep_per_period", -0.2, 0.5, where)
            _check_number(params, "last_week_share_min", 0.0, 100.0, where)
            _check_number(params, "last_week_share_max", 0.0, 100.0, where)
            _check_number(params, "keep_outside", 0.0, 1.0, where)
            if float(params["last_week_share_min"]) >= float(params["last_week_share_max"]):
                raise ValueError(f"{where}: last_week_share_min must be below last_week_share_max")
        elif self.kind == "concept_drift":
            _check_number(params, "promotion_uplift", -0.95, 20.0, where)
        elif self.kind == "corrupt_batch":
            if params["variant"] not in ("rename", "wrong_type"):
                raise ValueError(f"{where}: variant must be 'rename' or 'wrong_type'")
            if params["column"] not in FEATURE_COLUMNS:
                raise ValueError(f"{where}: column must be one of {', '.join(FEATURE_COLUMNS)}")
            if params["renamed_to"] in BATCH_COLUMNS or not str(params["renamed_to"]):
                raise ValueError(f"{where}: renamed_to must be a new, non-empty column name")
        elif self.kind == "demand_spike":
            if not isinstance(params["stores"], str) or not params["stores"].strip():
                raise ValueError(f"{where}: details.stores (e.g. 'S04,S06') is required")
            _check_number(params, "factor", 1.01, 50.0, where)
        return self

    def params(self) -> dict[str, Any]:
        """The details merged with the defaults of this kind."""
        merged: dict[str, Any] = {**_DETAIL_DEFAULTS[self.kind], **self.details}
        if self.kind == "corrupt_batch" and merged["renamed_to"] is None:
            merged["renamed_to"] = str(merged["column"]).capitalize()
        return merged

    @property
    def variant(self) -> str | None:
        """Variant of a covariate_shift or corrupt_batch event (None for other kinds)."""
        if self.kind in ("covariate_shift", "corrupt_batch"):
            return str(self.params()["variant"])
        return None

    @property
    def spike_stores(self) -> tuple[str, ...]:
        """Stores hit by a demand spike (empty for other kinds)."""
        if self.kind != "demand_spike":
            return ()
        return tuple(s.strip() for s in str(self.details["stores"]).split(",") if s.strip())


def default_events(initial_periods: int = 8, n_stores: int = 6) -> tuple[ScenarioEvent, ...]:
    """The default schedule, placed relative to the end of the labeled history.

    With the default 8 history periods: a demand spike at 11, price inflation
    from 14, a corrupt batch at 17, concept drift from 21 and a second spike
    at 25. It needs at least 18 live periods.

    Args:
        initial_periods: Periods of labeled history before the first live batch.
        n_stores: Number of stores (spikes hit the smaller stores).

    Returns:
        The events in period order.
    """
    start = initial_periods

    def stores(*from_end: int) -> str:
        # Store 1 is the largest; spikes hit small stores, where a spiked
        # last-week figure lies far outside anything the champion saw.
        picked = sorted({max(n_stores - k, 0) for k in from_end})
        return ",".join(store_name(i) for i in picked)

    first_spike, second_spike = stores(1, 2), stores(1, 3)
    return (
        ScenarioEvent(
            kind="demand_spike",
            period=start + 3,
            description=(
                f"Demand spike in stores {first_spike}: a local event with pre-orders makes "
                "last week's recorded units and this week's demand jump 5x. Shelves cannot "
                "hold that much, so realised sales stop at the store's capacity, and a "
                "forecast fed the spiked last-week units lands above capacity."
            ),
            details={"stores": first_spike, "factor": 5.0},
        ),
        ScenarioEvent(
            kind="covariate_shift",
            period=start + 6,
            description=(
                "Prices inflate by 35% and keep rising by 1% a period. Shoppers react "
                "to price exactly as before, so the relation between features and units "
                "is unchanged; only the price distribution moves (covariate shift)."
            ),
            details={"inflation": 0.35, "creep_per_period": 0.01},
        ),
        ScenarioEvent(
            kind="corrupt_batch",
            period=start + 9,
            description=(
                "An upstream export change renames the column 'price' to 'Price'; the "
                "batch breaks the data contract and must be quarantined, not scored."
            ),
            details={"variant": "rename", "column": "price", "renamed_to": "Price"},
        ),
        ScenarioEvent(
            kind="concept_drift",
            period=start + 13,
            description=(
                "Promotions change from shelf tags to national TV campaigns: a promoted "
                "item now sells 150% more instead of 30% more. The features look the "
                "same but mean different demand (concept drift)."
            ),
            details={"promotion_uplift": 1.5},
        ),
        ScenarioEvent(
            kind="demand_spike",
            period=start + 17,
            description=(
                f"Demand spike in stores {second_spike}: a supplier's regional campaign "
                "with pre-orders makes last week's recorded units and this week's demand "
                "jump 5x; realised sales stop at the store's capacity, and a forecast fed "
                "the spiked last-week units lands above capacity."
            ),
            details={"stores": second_spike, "factor": 5.0},
        ),
    )


_MIN_LIVE_FOR_DEFAULTS = 18


class SimulatorConfig(BaseModel):
    """Size, timing and event schedule of a simulated retail demand scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(7, ge=0, description="Seed of every random draw.")
    n_stores: int = Field(6, ge=1, le=99, description="Number of stores (S01 is the largest).")
    items_per_store: int = Field(
        60, ge=4, le=999, description="Items sold in every store (one row each per period)."
    )
    initial_periods: int = Field(
        8,
        ge=1,
        le=500,
        description="Labeled history for the bootstrap: periods 0..initial_periods-1.",
    )
    live_periods: int = Field(
        26, ge=0, le=499, description="Periods delivered one batch at a time after the history."
    )
    label_delay: int = Field(
        2, ge=0, le=52, description="Periods after a batch before its labels arrive."
    )
    events: tuple[ScenarioEvent, ...] = Field(
        (),
        description="Scheduled events; when omitted, default_events() relative to "
        "initial_periods (needs at least 18 live periods). Pass () for a calm scenario.",
    )
    task: TaskKind = Field(
        "regression",
        description="regression: the target is units_sold (float units). classification: "
        "the batches are the same and the target is demand_up, 'up' when the item sells "
        "more than a quarter of its store's capacity and 'down' otherwise.",
    )
    name: str = Field(
        "retail_demand",
        pattern=r"^[A-Za-z0-9][\w.\-]{0,79}$",
        description="Name of the scenario, reported by ground_truth().",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_schedule(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "events" in data:
            return data
        fields = cls.model_fields
        try:
            initial = int(data.get("initial_periods", fields["initial_periods"].default))
            n_stores = int(data.get("n_stores", fields["n_stores"].default))
            live = int(data.get("live_periods", fields["live_periods"].default))
        except (TypeError, ValueError):
            return data  # the field validators report the bad value
        if live < _MIN_LIVE_FOR_DEFAULTS:
            raise ValueError(
                f"the default event schedule needs live_periods >= {_MIN_LIVE_FOR_DEFAULTS} "
                f"(got {live}); pass events explicitly, or events=() for none"
            )
        return {**data, "events": default_events(max(initial, 1), max(n_stores, 1))}

    @model_validator(mode="after")
    def _events_fit(self) -> SimulatorConfig:
        first, end = self.initial_periods, self.total_periods
        known_stores = {store_name(i) for i in range(self.n_stores)}
        seen: set[tuple[str, int]] = set()
        for event in self.events:
            where = f"{event.kind} event at period {event.period}"
            # Events belong to the live periods: the bootstrap history is the
            # clean, stable world the first champion learns from.
            if not first <= event.period < end:
                raise ValueError(f"{where} lies outside the live periods {first}..{end - 1}")
            if (event.kind, event.period) in seen:
                raise ValueError(f"{where} is scheduled twice")
            seen.add((event.kind, event.period))
            unknown = sorted(set(event.spike_stores) - known_stores)
            if unknown:
                raise ValueError(
                    f"{where}: unknown store(s) {', '.join(unknown)} "
                    f"(stores are S01..{store_name(self.n_stores - 1)})"
                )
        for kind in ("covariate_shift", "concept_drift"):
            if sum(e.kind == kind for e in self.events) > 1:
                raise ValueError(f"at most one {kind} event is supported")
        return self

    @property
    def total_periods(self) -> int:
        """History plus live periods."""
        return self.initial_periods + self.live_periods


EVALUATION_SCENARIOS: tuple[str, ...] = ("control", "covariate_mix", "concept_drift")
"""Names of the scenarios built by :func:`evaluation_scenarios`, in order."""

# Bands of last week's units (share of store capacity) that the mix shift
# keeps, per task: where that task's model is weakest. Regression errors grow
# with volume (bestsellers); classification is least sure near the reorder
# point (close calls).
_MIX_BANDS: dict[str, tuple[float, float]] = {
    "regression": (0.35, 100.0),
    "classification": (0.18, 0.35),
}
_MIX_KEEP_OUTSIDE = 0.15
_EVALUATION_PROMOTION_UPLIFT = -0.75


def evaluation_event(name: str, period: int, task: TaskKind = "regression") -> ScenarioEvent | None:
    """The single drift event of an evaluation scenario (None for the control).

    - ``covariate_mix``: a ``mix`` covariate shift toward the rows the task's
      model finds hardest; the demand model stays as it is. Regression keeps
      bestsellers (last week above 35% of capacity); classification keeps
      close calls (18% to 35%, around the reorder point at 25%). Outside the
      band about one row in seven still arrives.
    - ``concept_drift``: promotions become click-and-collect offers and a
      promoted item sells a quarter of its usual store units instead of 1.3x;
      the inputs look the same.

    Measured with the shipped use cases' models trained on the 8 history
    weeks of :func:`evaluation_scenarios` (seeds 0-4, 900 rows a week): the
    mix shift raises the MAE by 26-35% and costs 0.09-0.12 accuracy, the
    concept drift raises the MAE by 53-62% and costs 0.08-0.11 accuracy, while
    the control moves by at most 3% / 0.012. Retraining on five weeks after
    the event repairs the concept drift (27-33% lower MAE, +0.07-0.10
    accuracy) but not the mix shift (within 2% / 0.012 of a model trained on
    the same weeks without it): the mix shift's rows are just harder.

    Args:
        name: One of ``EVALUATION_SCENARIOS``.
        period: Period at which the event starts.
        task: The task the scenario is evaluated on (chooses the mix band).

    Returns:
        The event, or None for ``control``.

    Raises:
        ValueError: For an unknown scenario name or task.
    """
    if task not in _MIX_BANDS:
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    if name == "control":
        return None
    if name == "covariate_mix":
        low, high = _MIX_BANDS[task]
        if task == "regression":
            who = (
                f"bestsellers (items that sold more than {low:.0%} of their store's capacity "
                "last week), whose weekly units swing more"
            )
        else:
            who = (
                f"close calls (items that sold {low:.0%} to {high:.0%} of their store's "
                "capacity last week, around the reorder point)"
            )
        return ScenarioEvent(
            kind="covariate_shift",
            period=period,
            description=(
                "A replenishment rule takes over most items, and the model now mostly gets "
                f"{who}; only {_MIX_KEEP_OUTSIDE:.0%} of the other items still come to it. "
                "Shoppers behave as before, so the relation between features and demand is "
                "unchanged: the batch mix moved into rows that are harder to forecast "
                "(covariate shift)."
            ),
            details={
                "variant": "mix",
                "last_week_share_min": low,
                "last_week_share_max": high,
                "keep_outside": _MIX_KEEP_OUTSIDE,
            },
        )
    if name == "concept_drift":
        kept = 1.0 + _EVALUATION_PROMOTION_UPLIFT
        return ScenarioEvent(
            kind="concept_drift",
            period=period,
            description=(
                "Promotions become click-and-collect offers in the app: shoppers order a "
                "promoted item online for pickup at the regional warehouse, so the store sells "
                f"{kept:.2f}x its usual units of it instead of "
                f"{1.0 + BASE_PROMOTION_UPLIFT:.2f}x. The features look the "
                "same but mean different demand (concept drift)."
            ),
            details={"promotion_uplift": _EVALUATION_PROMOTION_UPLIFT},
        )
    raise ValueError(
        f"unknown evaluation scenario {name!r}; known: {', '.join(EVALUATION_SCENARIOS)}"
    )


def evaluation_scenarios(
    seed: int,
    task: TaskKind = "regression",
    *,
    initial_periods: int = 8,
    stable_periods: int = 12,
    periods_after: int = 10,
    items_per_store: int = 150,
) -> list[SimulatorConfig]:
    """Scenarios for measuring detection: one drift event each at a known period.

    Every scenario has ``initial_periods`` of labeled history, then
    ``stable_periods`` stable live periods, then ``periods_after`` periods in
    which its event (if any) is in effect; the event starts at period
    ``initial_periods + stable_periods``. There are no demand spikes and no
    corrupt batches, so every alarm is about drift. The scenarios share the
    seed, so their periods before the event are identical (the control shows
    what the same weeks look like without the event). Their ``ground_truth()``
    names the event, its period, when its labels arrive and which periods are
    stable.

    Args:
        seed: Seed shared by the scenarios.
        task: "regression" (target units_sold) or "classification" (demand_up).
        initial_periods: Labeled history for the bootstrap champion.
        stable_periods: Stable live periods before the event (at least 1).
        periods_after: Live periods from the event on (at least 1).
        items_per_store: Items per store. With 6 stores the default 150 gives 900
            rows a week, and still 300 or more after a mix shift, so a week's
            labels pass the use cases' ``min_new_labels`` of 300.

    Returns:
        Configs named after ``EVALUATION_SCENARIOS``, in that order.

    Raises:
        ValueError: For an unknown task or fewer than one period before or after.
    """
    if stable_periods < 1 or periods_after < 1:
        raise ValueError("stable_periods and periods_after must both be at least 1")
    event_period = initial_periods + stable_periods
    configs = []
    for name in EVALUATION_SCENARIOS:
        event = evaluation_event(name, event_period, task)
        configs.append(
            SimulatorConfig(
                seed=seed,
                task=task,
                name=name,
                items_per_store=items_per_store,
                initial_periods=initial_periods,
                live_periods=stable_periods + periods_after,
                events=() if event is None else (event,),
            )
        )
    return configs


@dataclass(frozen=True)
class _Catalogue:
    store_scale: np.ndarray  # (S,)
    store_capacity: np.ndarray  # (S,)
    store_climate: np.ndarray  # (S,) degC offset
    store_price_index: np.ndarray  # (S,)
    item_category: np.ndarray  # (I,) index into CATEGORIES
    item_base_price: np.ndarray  # (I,)
    base_demand: np.ndarray  # (S, I) median units at the category's reference price


@dataclass(frozen=True)
class _Period:
    period: int
    week: int
    holiday: int
    price_multiplier: float
    promotion_uplift: float
    spike_stores: tuple[str, ...]
    spike_factor: float
    temperature: np.ndarray  # (S,)
    price: np.ndarray  # (S, I)
    promotion: np.ndarray  # (S, I) int
    level: np.ndarray  # (S, I) log demand level
    units_sold: np.ndarray  # (S, I)
    units_last_week: np.ndarray  # (S, I)


class RetailDemandSimulator:
    """Weekly retail demand for several stores with a scheduled set of events.

    Example:
        >>> sim = RetailDemandSimulator(SimulatorConfig(seed=1))
        >>> history = sim.labeled_history()          # train the first champion
        >>> for p in range(sim.config.initial_periods, sim.total_periods):
        ...     batch = sim.batch(p)                 # features as they land
        ...     arriving = [sim.labels(q) for q in sim.labels_arriving_at(p)]
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        """Simulate the whole scenario up front (about 40 ms for the default size).

        Args:
            config: Scenario settings; ``SimulatorConfig()`` when omitted.
        """
        self.config = config if config is not None else SimulatorConfig()
        cfg = self.config
        self._stores = [store_name(s) for s in range(cfg.n_stores)]
        self._catalogue = self._build_catalogue()
        self._covariate = next((e for e in cfg.events if e.kind == "covariate_shift"), None)
        self._mix = (
            self._covariate
            if self._covariate is not None and self._covariate.variant == "mix"
            else None
        )
        self._concept = next((e for e in cfg.events if e.kind == "concept_drift"), None)
        self._spikes = {e.period: e for e in cfg.events if e.kind == "demand_spike"}
        self._corrupt = {e.period: e for e in cfg.events if e.kind == "corrupt_batch"}
        self._periods: list[_Period] = []
        previous = self._warm_up()
        for period in range(cfg.total_periods):
            previous = self._simulate_period(period, previous)
            self._periods.append(previous)
        self._frames = [self._mix_selection(self._clean_frame(p)) for p in self._periods]

    # ------------------------------------------------------------------ public API
    @property
    def total_periods(self) -> int:
        """History plus live periods."""
        return self.config.total_periods

    @property
    def target_column(self) -> str:
        """``units_sold`` for regression, ``demand_up`` for classification."""
        return TARGET_COLUMN if self.config.task == "regression" else CLASSIFICATION_TARGET

    def batch(self, period: int) -> pd.DataFrame:
        """Features of ``period`` as they land: no target, corrupt if scheduled.

        Args:
            period: 0..total_periods-1.

        Returns:
            One row per store and item with the columns in ``BATCH_COLUMNS``
            (unless a corrupt batch renamed or retyped one of them).
        """
        clean = self._frame(period).drop(columns=[TARGET_COLUMN])
        event = self._corrupt.get(period)
        return clean if event is None else _corrupt(clean, event)

    def labels(self, period: int) -> pd.DataFrame:
        """Realised target of ``period``: columns ``row_id`` and :attr:`target_column`.

        The target is ``units_sold`` (float units) for regression and
        ``demand_up`` ("up"/"down") for classification.
        """
        labeled = self._with_target(self._frame(period))
        return labeled[["row_id", self.target_column]].reset_index(drop=True)

    def labeled_history(self) -> pd.DataFrame:
        """Clean features plus the target of periods 0..initial_periods-1."""
        frames = [self._with_target(f) for f in self._frames[: self.config.initial_periods]]
        return pd.concat(frames, ignore_index=True)

    def labels_arriving_at(self, period: int) -> list[int]:
        """Live periods whose labels land at ``period`` (``period - label_delay``).

        Labels of the history periods come with :meth:`labeled_history` and
        never "arrive"; periods after the last one are allowed, so callers can
        drain the labels still in flight when the scenario ends.
        """
        source = period - self.config.label_delay
        if self.config.initial_periods <= source < self.total_periods:
            return [source]
        return []

    def events(self) -> tuple[ScenarioEvent, ...]:
        """The scheduled events, in period order."""
        return tuple(sorted(self.config.events, key=lambda e: (e.period, e.kind)))

    def events_in_effect(self, period: int) -> list[str]:
        """Kinds of the events whose effect is present in ``period``.

        Drift events (covariate shift, concept drift) act from their period on;
        a demand spike acts in its period and the next one (whose last-week
        units are the spike's sales); a corrupt batch only in its period.
        """
        kinds: list[str] = []
        for event in self.events():
            if event.kind in DRIFT_EVENT_KINDS:
                active = period >= event.period
            elif event.kind == "demand_spike":
                active = event.period <= period <= event.period + 1
            else:
                active = period == event.period
            if active and event.kind not in kinds:
                kinds.append(event.kind)
        return kinds

    def ground_truth(self) -> dict[str, Any]:
        """What really happened, JSON-serialisable: config, events, per-period facts.

        Besides the config and the events it holds ``decay_events`` (the drift
        events with their cause and the period their first labels arrive) and,
        per period, ``stable`` (no event in effect: where an alarm is a false
        alarm) and ``events_in_effect``.
        """
        cat = self._catalogue
        periods = []
        for state, frame in zip(self._periods, self._frames, strict=True):
            p = state.period
            corrupt = self._corrupt.get(p)
            capacity = frame["store_capacity"].to_numpy()
            in_effect = self.events_in_effect(p)
            periods.append(
                {
                    "period": p,
                    "phase": "history" if p < self.config.initial_periods else "live",
                    "week_of_year": state.week,
                    "holiday": bool(state.holiday),
                    "labels_arrive_at": p + self.config.label_delay,
                    "stores": list(self._stores),
                    "rows": int(len(frame)),
                    "price_multiplier": round(state.price_multiplier, 6),
                    "mean_price": round(float(frame["price"].mean()), 4),
                    "promotion_uplift": state.promotion_uplift,
                    "promotion_share": round(float(frame["promotion"].mean()), 4),
                    "spike_stores": list(state.spike_stores),
                    "spike_factor": state.spike_factor,
                    "corrupt": corrupt is not None,
                    "corrupt_variant": None if corrupt is None else corrupt.params()["variant"],
                    "mean_units_sold": round(float(frame[TARGET_COLUMN].mean()), 4),
                    "share_sold_at_capacity": round(
                        float(np.mean(frame[TARGET_COLUMN].to_numpy() >= capacity)), 4
                    ),
                    "share_last_week_above_capacity": round(
                        float(np.mean(frame["units_last_week"].to_numpy() > capacity)), 4
                    ),
                    "events": [e.kind for e in self.events() if e.period == p],
                    "events_in_effect": in_effect,
                    "stable": not in_effect,
                    "rows_simulated": self.config.n_stores * self.config.items_per_store,
                    "share_demand_up": round(
                        float(np.mean(demand_up(frame[TARGET_COLUMN], capacity) == DEMAND_UP)), 4
                    ),
                }
            )
        return {
            "scenario": self.config.name,
            "task": self.config.task,
            "config": self.config.model_dump(mode="json"),
            "events": [e.model_dump(mode="json") for e in self.events()],
            "decay_events": [
                {
                    "kind": e.kind,
                    "variant": e.variant,
                    "period": e.period,
                    "labels_arrive_at": e.period + self.config.label_delay,
                }
                for e in self.events()
                if e.kind in DRIFT_EVENT_KINDS
            ],
            "constants": {
                "target_column": self.target_column,
                "regression_target_column": TARGET_COLUMN,
                "classification_target_column": CLASSIFICATION_TARGET,
                "classification_labels": [DEMAND_DOWN, DEMAND_UP],
                "reorder_point_share": REORDER_POINT_SHARE,
                "start_week": START_WEEK,
                "holiday_weeks": sorted(HOLIDAY_WEEKS),
                "base_promotion_uplift": BASE_PROMOTION_UPLIFT,
                "promotion_rate": PROMOTION_RATE,
                "categories": {
                    name: {
                        "reference_price": prof.ref_price,
                        "price_elasticity": prof.elasticity,
                        "temperature_effect_per_10C": prof.temp_effect,
                        "holiday_uplift": prof.holiday_uplift,
                    }
                    for name, prof in _PROFILES.items()
                },
            },
            "stores": {
                name: {
                    "capacity": float(cat.store_capacity[s]),
                    "size": round(float(cat.store_scale[s]), 4),
                }
                for s, name in enumerate(self._stores)
            },
            "periods": periods,
        }

    # ---------------------------------------------------------------- simulation
    def _rng(self, stream: int, period: int = 0) -> np.random.Generator:
        seq = np.random.SeedSequence(self.config.seed, spawn_key=(stream, period))
        return np.random.default_rng(seq)

    def _build_catalogue(self) -> _Catalogue:
        cfg = self.config
        rng = self._rng(_STREAM_CATALOGUE)
        n_s, n_i = cfg.n_stores, cfg.items_per_store
        # Store 1 is the flagship; sizes fall linearly to about a third of it.
        ladder = np.linspace(_LADDER_TOP, _LADDER_BOTTOM, n_s) if n_s > 1 else np.ones(1)
        scale = ladder * np.exp(rng.normal(0.0, 0.05, n_s))
        climate = rng.normal(0.0, _CLIMATE_SD, n_s)
        price_index = np.exp(rng.normal(0.0, 0.04, n_s))
        # Equal category shares, every category present (items_per_store >= 4).
        category = rng.permutation(np.resize(np.arange(len(CATEGORIES)), n_i))
        ref = np.array([_PROFILES[c].ref_price for c in CATEGORIES])[category]
        base_price = ref * np.exp(rng.normal(0.0, 0.35, n_i))
        popularity = np.exp(rng.normal(0.0, 0.35, n_i))
        affinity = np.exp(rng.normal(0.0, 0.15, (n_s, n_i)))
        base = _BASE_UNITS * scale[:, None] * popularity[None, :] * affinity
        # Shelf and backroom space per item: a generous multiple of what the
        # store's typical item sells, rounded like a planogram would be.
        capacity = np.ceil(_CAPACITY_FACTOR * _BASE_UNITS * scale / 10.0) * 10.0
        return _Catalogue(scale, capacity, climate, price_index, category, base_price, base)

    def _week(self, period: int) -> int:
        return (START_WEEK - 1 + period) % 52 + 1

    def _price_multiplier(self, period: int) -> float:
        ev = self._covariate
        if ev is None or ev.variant != "inflation" or period < ev.period:
            return 1.0
        params = ev.params()
        return float(
            (1.0 + float(params["inflation"]))
            * (1.0 + float(params["creep_per_period"])) ** (period - ev.period)
        )

    def _promotion_uplift(self, period: int) -> float:
        ev = self._concept
        if ev is None or period < ev.period:
            return BASE_PROMOTION_UPLIFT
        return float(ev.params()["promotion_uplift"])

    def _warm_up(self) -> _Period:
        """The week before period 0, so period 0 has a plausible units_last_week."""
        rng = self._rng(_STREAM_WARMUP)
        n_s, n_i = self.config.n_stores, self.config.items_per_store
        # Start the AR(1) level from its stationary distribution.
        level = rng.normal(0.0, _LEVEL_SD / math.sqrt(1.0 - _LEVEL_AR**2), (n_s, n_i))
        seed_state = _Period(
            period=-2,
            week=0,
            holiday=0,
            price_multiplier=1.0,
            promotion_uplift=BASE_PROMOTION_UPLIFT,
            spike_stores=(),
            spike_factor=1.0,
            temperature=np.zeros(n_s),
            price=np.zeros((n_s, n_i)),
            promotion=np.zeros((n_s, n_i), dtype=np.int64),
            level=level,
            units_sold=np.zeros((n_s, n_i)),
            units_last_week=np.zeros((n_s, n_i)),
        )
        return self._simulate_period(-1, seed_state, rng=rng)

    def _simulate_period(
        self, period: int, previous: _Period, rng: np.random.Generator | None = None
    ) -> _Period:
        cat = self._catalogue
        n_s, n_i = self.config.n_stores, self.config.items_per_store
        rng = rng if rng is not None else self._rng(_STREAM_PERIOD, period)
        # Draw everything first, always in the same order and shape, so that
        # the events of a period never shift the random streams of its draws.
        temp_noise = rng.normal(0.0, _TEMP_WEEKLY_SD, n_s)
        price_noise = rng.normal(0.0, _PRICE_NOISE_SD, (n_s, n_i))
        promo_draw = rng.random((n_s, n_i))
        level_innovation = rng.normal(0.0, _LEVEL_SD, (n_s, n_i))
        demand_noise = rng.normal(0.0, _NOISE_SD, (n_s, n_i))

        week = self._week(period)
        holiday = int(week in HOLIDAY_WEEKS)
        season = _TEMP_MEAN + _TEMP_AMPLITUDE * math.cos(
            2.0 * math.pi * (week - _TEMP_PEAK_WEEK) / 52.0
        )
        temperature = np.round(season + cat.store_climate + temp_noise, 1)

        multiplier = self._price_multiplier(period)
        price = cat.store_price_index[:, None] * cat.item_base_price[None, :]
        price = np.maximum(np.round(price * multiplier * np.exp(price_noise), 2), 0.01)
        promotion = (promo_draw < PROMOTION_RATE).astype(np.int64)
        level = _LEVEL_AR * previous.level + level_innovation

        categories = [CATEGORIES[k] for k in cat.item_category]
        ref_price = np.array([_PROFILES[c].ref_price for c in categories])
        elasticity = np.array([_PROFILES[c].elasticity for c in categories])
        temp_effect = np.array([_PROFILES[c].temp_effect for c in categories])
        holiday_uplift = np.array([_PROFILES[c].holiday_uplift for c in categories])

        uplift = self._promotion_uplift(period)
        spike = self._spikes.get(period)
        spike_stores = spike.spike_stores if spike is not None else ()
        spike_factor = float(spike.params()["factor"]) if spike is not None else 1.0
        spiked = np.array([name in spike_stores for name in self._stores])
        store_factor = np.where(spiked, spike_factor, 1.0)

        mean = (
            cat.base_demand
            * np.exp(level)
            * (price / ref_price[None, :]) ** (-elasticity[None, :])
            * (1.0 + uplift * promotion)
            * np.exp(temp_effect[None, :] * (temperature[:, None] - 12.0) / 10.0)
            * (1.0 + holiday_uplift[None, :] * holiday)
            * store_factor[:, None]
            * np.exp(demand_noise - _NOISE_SD**2 / 2.0)
        )
        mean = np.maximum(mean, 0.0)
        demand = rng.poisson(mean).astype(np.float64)  # the last draw of the period
        # A store cannot sell more than it holds.
        units_sold = np.minimum(demand, cat.store_capacity[:, None])

        units_last_week = previous.units_sold.copy()
        # In a spike the store-reported figure includes last week's pre-orders.
        units_last_week[spiked] = np.round(units_last_week[spiked] * spike_factor)
        return _Period(
            period=period,
            week=week,
            holiday=holiday,
            price_multiplier=multiplier,
            promotion_uplift=uplift,
            spike_stores=spike_stores,
            spike_factor=spike_factor,
            temperature=temperature,
            price=price,
            promotion=promotion,
            level=level,
            units_sold=units_sold,
            units_last_week=units_last_week,
        )

    def _clean_frame(self, state: _Period) -> pd.DataFrame:
        cat = self._catalogue
        n_s, n_i = self.config.n_stores, self.config.items_per_store
        p = state.period
        store_idx = np.repeat(np.arange(n_s), n_i)
        item_idx = np.tile(np.arange(n_i), n_s)
        return pd.DataFrame(
            {
                "row_id": [
                    f"p{p:03d}-s{s + 1:02d}-i{i + 1:03d}"
                    for s, i in zip(store_idx, item_idx, strict=True)
                ],
                "period": np.full(n_s * n_i, p, dtype=np.int64),
                "store": [self._stores[s] for s in store_idx],
                "category": [CATEGORIES[cat.item_category[i]] for i in item_idx],
                "price": state.price.ravel(),
                "promotion": state.promotion.ravel(),
                "temperature": state.temperature[store_idx],
                "holiday": np.full(n_s * n_i, state.holiday, dtype=np.int64),
                "units_last_week": state.units_last_week.ravel(),
                "store_capacity": cat.store_capacity[store_idx],
                TARGET_COLUMN: state.units_sold.ravel(),
            }
        )

    def _mix_selection(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of a period's full frame that reach the batch under a mix shift.

        The decision uses only the row's features (last week's units over the
        store's capacity) and an independent draw from the mix stream, so the
        kept rows keep the conditional distribution of the target.
        """
        ev = self._mix
        period = int(frame["period"].iloc[0])
        if ev is None or period < ev.period:
            return frame
        params = ev.params()
        share = frame["units_last_week"].to_numpy() / frame["store_capacity"].to_numpy()
        in_band = (share >= float(params["last_week_share_min"])) & (
            share <= float(params["last_week_share_max"])
        )
        draw = self._rng(_STREAM_MIX, period).random(len(frame))
        keep = in_band | (draw < float(params["keep_outside"]))
        return frame.loc[keep].reset_index(drop=True)

    def _with_target(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with the task's target in place of ``units_sold``."""
        if self.config.task == "regression":
            return frame
        up = demand_up(frame[TARGET_COLUMN], frame["store_capacity"])
        return frame.drop(columns=[TARGET_COLUMN]).assign(
            **{CLASSIFICATION_TARGET: pd.Series(up, index=frame.index, dtype=object)}
        )

    def _frame(self, period: int) -> pd.DataFrame:
        if not 0 <= period < self.total_periods:
            raise ValueError(
                f"period {period} is outside the scenario (0..{self.total_periods - 1})"
            )
        return self._frames[period].copy()


def demand_up(units_sold: Any, store_capacity: Any) -> np.ndarray:
    """The classification target from units and capacity.

    Args:
        units_sold: Units sold per row.
        store_capacity: The store's capacity per row (same length).

    Returns:
        ``DEMAND_UP`` where units_sold > REORDER_POINT_SHARE * store_capacity,
        ``DEMAND_DOWN`` elsewhere (an object array of strings).
    """
    units = np.asarray(units_sold, dtype=float)
    capacity = np.asarray(store_capacity, dtype=float)
    return np.where(units > REORDER_POINT_SHARE * capacity, DEMAND_UP, DEMAND_DOWN).astype(object)


def _corrupt(frame: pd.DataFrame, event: ScenarioEvent) -> pd.DataFrame:
    """Apply a corrupt_batch event; the damage survives a CSV round trip."""
    params = event.params()
    column = str(params["column"])
    if params["variant"] == "rename":
        return frame.rename(columns={column: str(params["renamed_to"])})
    values = frame[column]
    if column in _WRONG_TYPE_UNITS:
        # Numbers exported with their unit: text, not numeric, in any reader.
        text = [f"{v:g} {_WRONG_TYPE_UNITS[column]}" for v in values]
    elif column in ("promotion", "holiday"):
        text = ["yes" if v else "no" for v in values]
    else:
        # Categorical columns exported as numeric codes instead of names.
        codes = {name: k + 1 for k, name in enumerate(sorted(values.unique()))}
        text = [codes[v] for v in values]
    corrupted = frame.copy()
    corrupted[column] = pd.Series(text, index=frame.index, dtype=object)
    return corrupted
