"""A run's whole configuration: validated once when submitted, stored as JSON with the run."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.errors import UserError
from engine.models.configs import MLPConfig
from engine.models.registry import MODELS

ModelConfig = Annotated[Union[MLPConfig], Field(discriminator="name")]


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(20, ge=1, le=1000, title="Epochs",
                        description="How many times training goes through the whole training split.")
    batch_size: int = Field(64, ge=1, le=65536, title="Batch size",
                            description="Examples per training step; larger is faster but needs more memory.")
    learning_rate: float = Field(1e-3, gt=0, le=10, title="Learning rate",
                                 description="Step size of each weight update; lower it if the loss jumps or becomes NaN.")
    optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", title="Optimizer",
                                                       description="The rule that updates the weights after each step.")
    momentum: float = Field(0.9, ge=0, lt=1, title="Momentum (SGD)",
                            description="Share of the previous update carried into the next one; used by SGD only.")
    weight_decay: float = Field(0.0, ge=0, le=1, title="Weight decay",
                                description="Pull of the weights towards zero per step, against over-fitting.")
    grad_clip: float = Field(0.0, ge=0, le=1000, title="Gradient clipping",
                             description="Largest allowed gradient norm; 0 turns clipping off.")
    seed: int = Field(0, ge=0, le=2**31 - 1, title="Seed",
                      description="Makes the run repeatable: the same seed gives the same result.")
    device: str = Field("auto", title="Device",
                        description="'auto' picks a GPU when there is one, else the CPU; or 'cpu', 'cuda', 'cuda:1'.")
    log_every: int = Field(10, ge=1, le=100000, title="Log every (steps)",
                           description="How often, in training steps, the training loss is recorded.")


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validation_fraction: float = Field(0.15, ge=0.05, le=0.5, title="Validation share",
                                       description="Fraction of rows held out to watch progress during training.")
    test_fraction: float = Field(0.15, ge=0.05, le=0.5, title="Test share",
                                 description="Fraction of rows held out to grade the final model.")
    seed: int = Field(0, ge=0, le=2**31 - 1, title="Split seed",
                      description="The same seed always gives the same split.")

    @model_validator(mode="after")
    def _leaves_training_rows(self):
        if self.validation_fraction + self.test_fraction > 0.8:
            raise ValueError("validation and test shares together must leave at least 20% for training")
        return self


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelConfig = Field(default_factory=MLPConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)


def explain_validation_error(error: ValidationError) -> str:
    """Give back the pydantic errors as short plain sentences naming the setting."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"] if not isinstance(part, int))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a setting Trainyard knows"
        lines.append(f"{where or 'settings'}: {message}")
    return "; ".join(lines)


def validate_run_config(raw: dict[str, Any]) -> RunConfig:
    """Give back a validated RunConfig, or raise UserError naming each wrong setting."""
    model = raw.get("model") if isinstance(raw, dict) else None
    if isinstance(model, dict) and model.get("name") not in MODELS:
        raise UserError(f"Unknown model '{model.get('name')}'. Choose one of: {', '.join(MODELS)}.")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        raise UserError("Some settings are not valid — " + explain_validation_error(error)) from None


def set_dotted(raw: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set raw['a']['b'] = value for dotted_key 'a.b' (used by `train --set`)."""
    parts = dotted_key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
