"""Building blocks of :class:`tuners.TorchClassifier`, one registry per knob.

Each registry maps a parameter value to a function taking the ``torch`` module first, so this
module never imports PyTorch itself.
"""

from __future__ import annotations


def import_torch(what: str = "TorchClassifier"):
    """The ``torch`` module; an ImportError saying what to install if it is missing."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"{what} needs PyTorch, which is not installed: pip install coreset-engine[torch]"
        ) from error
    return torch


ACTIVATIONS = {
    "relu": lambda nn: nn.ReLU(),
    "tanh": lambda nn: nn.Tanh(),
    "gelu": lambda nn: nn.GELU(),
    "leaky_relu": lambda nn: nn.LeakyReLU(),
    "elu": lambda nn: nn.ELU(),
}

# PyTorch's gain for each activation; GELU and ELU are close enough to ReLU
_NONLINEARITY = {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh", "gelu": "relu",
                 "elu": "relu"}  # fmt: skip


def _kaiming(kind: str):
    def init(nn, weight, activation: str) -> None:
        getattr(nn.init, f"kaiming_{kind}_")(weight, nonlinearity=_NONLINEARITY[activation])

    return init


def _xavier(kind: str):
    def init(nn, weight, activation: str) -> None:
        gain = nn.init.calculate_gain(_NONLINEARITY[activation])
        getattr(nn.init, f"xavier_{kind}_")(weight, gain=gain)

    return init


INITS = {
    "default": None,
    "xavier_uniform": _xavier("uniform"),
    "xavier_normal": _xavier("normal"),
    "kaiming_uniform": _kaiming("uniform"),
    "kaiming_normal": _kaiming("normal"),
    "orthogonal": lambda nn, weight, activation: nn.init.orthogonal_(weight),
}

OPTIMIZERS = {
    "adam": lambda torch, params, m: torch.optim.Adam(params, lr=m.lr, weight_decay=m.weight_decay),
    "adamw": lambda torch, params, m: torch.optim.AdamW(
        params, lr=m.lr, weight_decay=m.weight_decay
    ),
    "sgd": lambda torch, params, m: torch.optim.SGD(
        params, lr=m.lr, momentum=0.9, nesterov=True, weight_decay=m.weight_decay
    ),
    "rmsprop": lambda torch, params, m: torch.optim.RMSprop(
        params, lr=m.lr, weight_decay=m.weight_decay
    ),
}

SCHEDULERS = {
    "step": lambda torch, optimizer, m: torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=max(1, m.max_epochs // 3), gamma=0.1
    ),
    "cosine": lambda torch, optimizer, m: torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=m.max_epochs
    ),
    "plateau": lambda torch, optimizer, m: torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.1, patience=max(1, m.patience // 2)
    ),
}


def build_mlp(model, n_features: int, n_classes: int):
    """The network for a TorchClassifier ``model``: [linear, batch norm, activation, dropout]
    per hidden layer, then a linear layer to one logit per class."""
    nn = import_torch().nn
    layers, width = [], n_features
    for size in model.hidden_layer_sizes:
        layers.append(nn.Linear(width, int(size)))
        if model.batch_norm:
            layers.append(nn.BatchNorm1d(int(size)))
        layers.append(ACTIVATIONS[model.activation](nn))
        if model.dropout > 0:
            layers.append(nn.Dropout(model.dropout))
        width = int(size)
    layers.append(nn.Linear(width, n_classes))
    init = INITS[model.init]
    if init is not None:
        for layer in layers:
            if isinstance(layer, nn.Linear):
                init(nn, layer.weight, model.activation)
                nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)
