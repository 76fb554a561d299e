"""Models for tables."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import torch
from torch import nn

from engine.models.layers import activation, initialise
from engine.models.zoo.mlp import MANY_CATEGORIES, RANGE_SHARES, MLPConfig, range_edges


class NumberRanges(nn.Module):
    """Piecewise-linear encoding of the numeric columns (Gorishniy et al., 2022, "On embeddings for numerical
    features in tabular deep learning"): for each range between two training quantiles of a column, how far the
    value has gone through it — 0 below the range, 1 above it, in between inside it. A network reading these can
    answer differently for low, middle and high values, as a decision tree does; on plain scaled numbers its
    first layer can only draw one straight line per neuron."""

    def __init__(self, edges: list[list[float]]):
        super().__init__()
        ranges = max(len(e) - 1 for e in edges)
        lows, widths, used = torch.zeros(len(edges), ranges), torch.ones(len(edges), ranges), torch.zeros(len(edges), ranges)
        for column, column_edges in enumerate(edges):
            bounds = torch.tensor(column_edges, dtype=torch.float32)
            count = len(column_edges) - 1
            # A range of no width (two equal edges, as a model trained before they were told apart may hold) is a
            # step rather than 0 / 0.
            widths[column, :count] = bounds.diff().clamp_min(1e-6)
            lows[column, :count], used[column, :count] = bounds[:-1], 1.0
        self.register_buffer("lows", lows)
        self.register_buffer("widths", widths)
        self.register_buffer("used", used)

    @property
    def n_outputs(self) -> int:
        return self.lows.numel()

    def forward(self, numbers: torch.Tensor) -> torch.Tensor:
        # numbers: (batch, columns) -> (batch, columns, ranges) -> (batch, columns * ranges)
        through = ((numbers.unsqueeze(-1) - self.lows) / self.widths).clamp(0.0, 1.0)
        return (through * self.used).flatten(1)


class CategoryHiding(nn.Module):
    """While training, moves a row's category, in each column of more than MANY_CATEGORIES, at random to the column's
    slot for values not seen in training: with chance trust / (trust + n) for a category in n training rows. What the
    network learns of a rare category is then shrunk towards what it learns of any other value, the way a smoothed
    mean of the target per category is (Micci-Barreca, 2001); a common category is hardly ever hidden. A column of a
    few categories is read as it is: each of them may tell much (hpc_jobs' protocols; see MANY_CATEGORIES). The input
    is the one-hot layout of engine.data.prepare_tables.transform_features; evaluation reads rows as they are."""

    def __init__(self, n_features: int, first: int, counts: list[list[int]], trust: int):
        super().__init__()
        chance, unseen = torch.zeros(n_features), torch.arange(n_features)
        at = first
        for column in counts:
            if len(column) > MANY_CATEGORIES:
                chance[at:at + len(column)] = trust / (trust + torch.tensor(column, dtype=torch.float32))
            unseen[at:at + len(column) + 1] = at + len(column)
            at += len(column) + 1
        self.register_buffer("chance", chance, persistent=False)
        self.register_buffer("unseen", unseen, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        hidden = x * (torch.rand_like(x) < self.chance)
        return (x - hidden).index_add(1, self.unseen, hidden)


def category_hiding(config: MLPConfig, spec: dict[str, Any]) -> CategoryHiding | None:
    """Give back the model's CategoryHiding when it hides categories and the table has a column of more than
    MANY_CATEGORIES, with their training counts known (runs prepared before they were kept have none)."""
    counts = spec.get("category_counts") or []
    if not config.category_trust or any(column is None for column in counts) or not any(
            len(column) > MANY_CATEGORIES for column in counts):
        return None
    return CategoryHiding(spec["n_features"], len(spec.get("number_edges") or []), counts, config.category_trust)


def network(config: MLPConfig, width: int, n_outputs: int, members: int = 1) -> tuple[nn.Sequential, nn.Module]:
    """Give back (hidden layers, output layer) of one network of the given input width, or of members networks
    computed together (MemberLinear, MemberBatchNorm: (members, batch, width) in, (members, batch, …) out)."""
    dense = nn.Linear if members == 1 else functools.partial(MemberLinear, members)
    norm = nn.BatchNorm1d if members == 1 else functools.partial(MemberBatchNorm, members)
    layers: list[nn.Module] = []
    for hidden in config.hidden_sizes:
        layers.append(dense(width, hidden))
        if config.batch_norm:
            layers.append(norm(hidden))
        layers.append(activation(config.activation))
        if config.dropout:
            layers.append(nn.Dropout(config.dropout))
        width = hidden
    return nn.Sequential(*layers), dense(width, n_outputs)


class MemberLinear(nn.Module):
    """The same dense layer in each of an ensemble's networks, computed for all of them in one batched product:
    input (members, batch, in) -> (members, batch, out). Each network's slice starts as nn.Linear's would."""

    stacked = True  # engine.models.layers.initialise draws each network's slice on its own

    def __init__(self, members: int, inputs: int, outputs: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, outputs, inputs))
        self.bias = nn.Parameter(torch.empty(members, 1, outputs))
        bound = 1 / math.sqrt(inputs)
        for weight in self.weight:
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight.transpose(1, 2))


class MemberBatchNorm(nn.BatchNorm1d):
    """Batch normalisation of each network of an ensemble on its own: (members, batch, width) in and out."""

    def __init__(self, members: int, width: int):
        super().__init__(members * width)
        self.members, self.width = members, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[1]
        flat = x.transpose(0, 1).reshape(batch, self.members * self.width)
        return super().forward(flat).reshape(batch, self.members, self.width).transpose(0, 1)


def ensemble(config: MLPConfig, width: int, n_outputs: int) -> nn.Sequential:
    """Give back config.members networks of the given input width, each layer of them all one module, in the order
    of network()'s layers: (members, batch, width) -> (members, batch, n_outputs)."""
    body, head = network(config, width, n_outputs, config.members)
    return nn.Sequential(*body, head)


def joined_members(state: dict[str, torch.Tensor], last: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """Give back state with an ensemble saved one network at a time (members.<i>.0.<layer> and members.<i>.1, as
    runs trained before the ensemble was batched saved it) in the batched layout of ensemble(), whose output layer
    is at index last; other state as is."""
    head = prefix + "members."
    names = [name for name in state if name.startswith(head)]
    if not names:
        return state
    joined = {name: value for name, value in state.items() if not name.startswith(head)}
    count = 1 + max(int(name[len(head):].split(".")[0]) for name in names)
    body = sorted({int(name[len(head):].split(".")[2]) for name in names if name[len(head):].split(".")[1] == "0"})
    for old, new in [(f"0.{layer}.", f"{layer}.") for layer in body] + [("1.", f"{last}.")]:
        for field in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            parts = [state.get(f"{head}{member}.{old}{field}") for member in range(count)]
            if parts[0] is None:
                continue
            if field == "num_batches_tracked":
                value = parts[0]
            elif parts[0].dim() == 2:  # a dense layer's (out, in) matrix
                value = torch.stack(parts)
            elif f"{head}0.{old}running_mean" in state:  # a batch normalisation's numbers, one after the other
                value = torch.cat(parts)
            else:  # a dense layer's bias
                value = torch.stack(parts).unsqueeze(1)
            joined[f"{prefix}ensemble.{new}{field}"] = value
    return joined


class MLP(nn.Module):
    """A network over the table's columns, or several trained side by side whose answers are averaged.

    With members > 1, training gives back every member's outputs, (members, batch, n_outputs), and the loss is
    the mean of the members' losses (engine.training.evaluate.task_loss), so each learns on its own from its own
    starting weights; predicting gives back their combined answer: the log of the mean class probabilities, or
    the mean number. An ensemble of networks is steadier than any one of them on a table (Gorishniy et al.,
    2024, "TabM"). Its networks are computed together, one batched product per layer, which on a processor is
    several times faster than one network after the other.
    """

    def __init__(self, config: MLPConfig, n_features: int, n_outputs: int, edges: list[list[float]] | None = None,
                 task: str = "classification", hiding: CategoryHiding | None = None):
        super().__init__()
        self.hiding = hiding
        # The numeric columns come first in a row (engine.data.prepare_tables.transform_features).
        self.ranges = NumberRanges(edges) if edges else None
        self.n_numbers = len(edges) if edges else 0
        self.classify = task == "classification"
        self.n_members = config.members
        width = n_features + (self.ranges.n_outputs if self.ranges else 0)
        if config.members == 1:
            self.body, self.head = network(config, width, n_outputs)
        else:
            self.ensemble = ensemble(config, width, n_outputs)
            self.register_load_state_dict_pre_hook(MLP._join_members)
        # The inputs each network reads, (members, 1, width): 0 on the ranges for those that read numbers as they
        # are. Computed from the settings, so not saved with the weights.
        halves = self.ranges is not None and config.plain_members > 0
        self.n_plain = config.plain_members if halves else 0
        self.register_buffer("reads", reading_mask(config.members, n_features, width, self.n_plain)
                             if halves else None, persistent=False)
        # How much the networks that read numbers by range count in the answer, the others making up the rest:
        # weighed on the validation rows when training ends (weigh_readers), and saved with the weights.
        self.register_buffer("range_share", torch.tensor(0.5) if halves else None)

    @staticmethod
    def _join_members(module: MLP, state: dict[str, torch.Tensor], prefix: str, *_) -> None:
        joined = joined_members(state, len(module.ensemble) - 1, prefix)
        if joined is not state:
            state.clear()
            state.update(joined)

    def upgrade_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Give back a saved state of this model in its current layout (see joined_members)."""
        return joined_members(state, len(self.ensemble) - 1) if self.n_members > 1 else state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hiding is not None:
            x = self.hiding(x)
        x = with_ranges(self, x)
        if self.n_members == 1:
            return self.head(self.body(x))
        x = x.unsqueeze(0).expand(self.n_members, -1, -1) if self.reads is None else x.unsqueeze(0) * self.reads
        outputs = self.ensemble(x)  # (members, batch, n_outputs)
        return outputs if self.training else combined(outputs, self.classify, self.member_weights())

    def member_weights(self) -> torch.Tensor | None:
        """Give back how much each network counts in the answer, (members,), or None when they count the same."""
        if self.range_share is None:
            return None
        plain = (1.0 - self.range_share) / self.n_plain
        by_range = self.range_share / (self.n_members - self.n_plain)
        return torch.cat([plain.expand(self.n_plain), by_range.expand(self.n_members - self.n_plain)])

    def weigh_readers(self, validation_loss: Callable[[], float]) -> float | None:
        """Give the networks that read numbers by range the share of the answer, of RANGE_SHARES, with the lowest
        validation_loss() (the others count for the rest), and give back that share; None when all the networks
        read numbers alike. Which way of reading numbers suits a table is known only once both have learnt it."""
        if self.range_share is None:
            return None
        losses = {}
        for share in RANGE_SHARES:  # the even share first: it stays unless another one is lower
            self.range_share.fill_(share)
            losses[share] = validation_loss()
        self.range_share.fill_(min(losses, key=losses.get))
        return float(self.range_share)

    def onnx_form(self) -> nn.Module:
        """Give back this model as it is best exported to ONNX: an ensemble as SeparateMembers, else itself."""
        return SeparateMembers(self).eval() if self.n_members > 1 else self


def reading_mask(members: int, n_features: int, width: int, plain: int) -> torch.Tensor:
    """Give back which inputs each of an ensemble's networks reads, (members, 1, width): every one, except the
    numbers by range (the inputs after n_features) for the first `plain` networks."""
    mask = torch.ones(members, 1, width)
    mask[:plain, :, n_features:] = 0.0
    return mask


def with_ranges(model: MLP | SeparateMembers, x: torch.Tensor) -> torch.Tensor:
    """Give back a batch of rows (batch, n_features) as the networks read it: followed by its numbers by range,
    (batch, numbers × ranges), when the model reads them."""
    return x if model.ranges is None else torch.cat([x, model.ranges(x[:, :model.n_numbers])], 1)


def combined(outputs: torch.Tensor, classify: bool, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Give back the ensemble's answer from its networks' (members, batch, n_outputs): the log of the mean class
    probabilities, or the mean number; weighted by weights (members,) adding up to 1 when given, else evenly."""
    if weights is None:
        weights = torch.full((len(outputs),), 1.0 / len(outputs), device=outputs.device)
    weights = weights.view(-1, 1, 1)
    if classify:  # a network given no weight adds e^-30 of its probabilities: nothing, and no log of 0
        return torch.logsumexp(torch.log_softmax(outputs, -1) + weights.clamp_min(1e-13).log(), 0)
    return (outputs * weights).sum(0)


def _one_network(layer: nn.Module, member: int) -> nn.Module:
    """Give back the layer of network number member taken out of an ensemble's layer (a copy of its weights)."""
    if isinstance(layer, MemberLinear):
        alone = nn.Linear(layer.weight.shape[2], layer.weight.shape[1])
        alone.load_state_dict({"weight": layer.weight[member], "bias": layer.bias[member, 0]})
        return alone
    if isinstance(layer, MemberBatchNorm):
        alone = nn.BatchNorm1d(layer.width, eps=layer.eps)
        part = slice(member * layer.width, (member + 1) * layer.width)
        alone.load_state_dict({name: value if name == "num_batches_tracked" else value[part]
                               for name, value in layer.state_dict().items()})
        return alone
    return layer  # an activation or dropout: nothing of its own


class SeparateMembers(nn.Module):
    """A trained ensemble with each network as layers of its own, answering as the MLP does in evaluation: the form
    it is exported to ONNX in, where every dense layer is a matrix product on a constant matrix that ONNX Runtime's
    int8 quantisation gives a scale per output column (the stacked (networks, out, in) matrices it refuses)."""

    def __init__(self, model: MLP):
        super().__init__()
        self.ranges, self.n_numbers, self.classify = model.ranges, model.n_numbers, model.classify
        self.members = nn.ModuleList(nn.Sequential(*(_one_network(layer, member) for layer in model.ensemble))
                                     for member in range(model.n_members))
        if model.reads is not None:  # a network that reads numbers as they are gives the ranges no weight
            with torch.no_grad():
                for member, reads in zip(self.members, model.reads):
                    member[0].weight.mul_(reads)
        self.register_buffer("weights", model.member_weights())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = with_ranges(self, x)
        return combined(torch.stack([member(x) for member in self.members]), self.classify, self.weights)


def build_mlp(config: MLPConfig, spec: dict[str, Any]) -> nn.Module:
    model = MLP(config, spec["n_features"], spec["n_outputs"], range_edges(config, spec), spec.get("task", ""),
                category_hiding(config, spec))
    return initialise(model, config.init, config.activation)
