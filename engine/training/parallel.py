"""One run trained by several processes at once, with torch.distributed.

Every process runs the same training loop on its share of each step's examples; this module says which process
this is and holds the few moments where the processes must agree: how the model is shared (DDP keeps a copy in
each process and averages the gradients; FSDP splits the weights between them), the sums behind the logged
training figures, the validation figures every process acts on, whether to stop, and the checkpoint.
The first process (rank 0) alone writes to the database and the run's folder.
"""

from __future__ import annotations

import copy
import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from db.models import RunStatus

COLLECTIVE_SECONDS = 300.0  # how long a process waits for the others before the run fails instead of hanging
# the statuses a stop gives a run; when processes give different reasons, the last one here wins
STOP_REASONS = (RunStatus.PRUNED, RunStatus.INTERRUPTED, RunStatus.CANCELLED)


def collective_timeout() -> datetime.timedelta:
    """Give back how long a process waits for the others (TRAINYARD_COLLECTIVE_TIMEOUT seconds)."""
    return datetime.timedelta(seconds=float(os.environ.get("TRAINYARD_COLLECTIVE_TIMEOUT", COLLECTIVE_SECONDS)))


@dataclass(frozen=True)
class Team:
    """Which process this is among those training one run; the default is a run on one process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    strategy: str = "ddp"

    @property
    def leader(self) -> bool:
        return self.rank == 0

    @property
    def shared(self) -> bool:
        return self.world > 1

    @property
    def sharded(self) -> bool:
        """Whether the model's weights are split between the processes (FSDP) rather than copied (DDP)."""
        return self.shared and self.strategy == "fsdp"

    # ------------------------------------------------------------ the model

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """Give back the module the training steps call: model itself on one process, else shared by strategy.

        With DDP the wrapper shares model's weights; with FSDP a copy is split, so model stays whole for
        saving and answering once training ends (`unwrap`).
        """
        if not self.shared:
            return model
        if self.sharded:
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import fully_shard

            # model stays whole in CPU memory; each process's device holds only its share of the copy
            mesh = init_device_mesh(device.type, (self.world,))
            sharded = copy.deepcopy(model)
            for part in units(sharded):  # each part gathered only while it computes
                fully_shard(part, mesh=mesh)
            return fully_shard(sharded, mesh=mesh)
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda":  # batch statistics over the whole step, not each process's share (GPUs only)
            nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DistributedDataParallel(model, device_ids=[device.index or 0])
        return DistributedDataParallel(model)

    def inner(self, model: nn.Module, net: nn.Module) -> nn.Module:
        """Give back the model whose weights the steps update, without DDP's wrapper: model itself, or FSDP's split
        copy (whose every call needs every process)."""
        return net if self.sharded else model

    def weights(self, net: nn.Module, model: nn.Module) -> dict[str, torch.Tensor]:
        """Give back the whole model's weights (on rank 0; every process must call it under FSDP)."""
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            return get_model_state_dict(net, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return model.state_dict()

    def optimizer_state(self, net: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            return get_optimizer_state_dict(net, optimizer,
                                            options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return optimizer.state_dict()

    def load_weights(self, net: nn.Module, model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
        """Put rank 0's whole-model weights back into the model (every process must call it under FSDP)."""
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

            set_model_state_dict(net, weights, options=StateDictOptions(full_state_dict=True,
                                                                        broadcast_from_rank0=True))
        elif weights:  # the other processes of a DDP run end without answering anything
            model.load_state_dict(weights)

    def load_optimizer(self, net: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(net, optimizer, state, options=StateDictOptions(full_state_dict=True))
        else:
            optimizer.load_state_dict(state)

    def unwrap(self, net: nn.Module, model: nn.Module) -> None:
        """After training, give model the trained weights that FSDP kept split (every process must call it)."""
        if self.sharded:
            weights = self.weights(net, model)
            if self.leader:
                model.load_state_dict(weights)

    # ------------------------------------------------------------ agreeing

    def sums(self, values: list[float | torch.Tensor], device: torch.device) -> list[float]:
        """Give back each value added up over the processes."""
        if not self.shared:
            return [float(value) for value in values]
        local = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device) for v in values])
        torch.distributed.all_reduce(local)
        return local.tolist()

    def stop_reason(self, reason: str | None, device: torch.device) -> str | None:
        """Give back the reason to stop that any process has (all stop together), or None."""
        if not self.shared:
            return reason
        flags = self.sums([float(reason == name) for name in STOP_REASONS], device)
        return next((name for name, flag in zip(reversed(STOP_REASONS), reversed(flags)) if flag), None)

    def from_leader(self, value: Any) -> Any:
        """Give back rank 0's value on every process."""
        if not self.shared:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Give back every process's value, in rank order."""
        if not self.shared:
            return [value]
        values: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(values, value)
        return values


SINGLE = Team()


def units(model: nn.Module) -> list[nn.Module]:
    """Give back the parts of model that FSDP gathers one at a time: its children with weights, and the items of its
    lists of layers (a list itself has no computation of its own to wrap)."""
    parts = []
    for child in model.children():
        items = list(child.children()) if isinstance(child, (nn.ModuleList, nn.ModuleDict)) else [child]
        parts += [item for item in items if any(True for _ in item.parameters())]
    return parts


def join(strategy: str, device_type: str) -> Team:
    """Join the other processes of this run, as torch.distributed's launcher started them; give back this one."""
    import torch.distributed as dist

    backend = "nccl" if device_type == "cuda" else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, timeout=collective_timeout())
    return Team(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank, strategy=strategy)


def leave(team: Team) -> None:
    if team.shared and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
