"""MEDN: a multi-task encoder-decoder network predicting module latency (PyTorch).

The MEDN fact sheet's model (sizes are the kit's assumed defaults, each a parameter): inputs
are signed-log transformed (``sign(x) log1p |x|``, the inputs span many orders of magnitude)
and standardised; an encoder MLP (``hidden`` = (64, 32), ReLU) maps them to a latent vector
(``latent`` = 16); a prediction head (``latent -> head_hidden (32) -> 1``) predicts the
standardised log-latency, and a reconstruction head (``latent -> head_hidden -> n_inputs``)
reconstructs the standardised inputs. Training minimises
``MSE(prediction) + lam * MSE(reconstruction)`` with Adam; only the prediction path runs in
:meth:`MEDN.predict`.

MEDN follows scikit-learn's estimator contract: ``__init__`` stores its arguments, ``fit``
returns ``self`` and sets the fitted attributes (trailing underscore), ``predict`` returns an
array of shape (n_samples,). Training is deterministic for a given ``random_state`` (its own
``torch.Generator`` for initialisation and batch order; the caller's torch RNG is untouched).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_float, check_int

__all__ = ["MEDN"]


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class MEDN(RegressorMixin, BaseEstimator):
    """Multi-task encoder-decoder latency regressor.

    Parameters
    ----------
    hidden : sequence of int
        Encoder hidden widths (default (64, 32)).
    latent : int
        Latent width (default 16).
    head_hidden : int
        Hidden width of both heads (default 32).
    lam : float
        Weight of the reconstruction loss (>= 0; 0 disables the decoder's influence).
    log_target : bool
        Fit the log of the target (latencies must then be > 0).
    log_inputs : bool
        Signed-log transform of the inputs before standardisation.
    epochs : int
        Passes over the training data.
    batch_size : int
        Minibatch size (capped at the number of samples).
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam weight decay.
    random_state : int
        Seeds initialisation and batch order.
    threads : int or None
        ``torch.set_num_threads`` while fitting and predicting (default 1: the network is
        tiny, and more threads only add synchronisation; None leaves torch's setting).

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.
    x_mean_, x_scale_ : ndarray, shape (n_features_in_,)
        Input standardisation (after the optional signed log).
    y_mean_, y_scale_ : float
        Target standardisation (after the optional log).
    net_ : torch.nn.Module
        The trained network (``encoder``, ``predictor``, ``decoder``).
    loss_curve_ : list of float, shape (epochs,)
        Mean total loss per epoch.
    n_iter_ : int
        Epochs run.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (64, 32),
        latent: int = 16,
        head_hidden: int = 32,
        lam: float = 1.0,
        log_target: bool = True,
        log_inputs: bool = True,
        epochs: int = 200,
        batch_size: int = 64,
        lr: float = 3e-3,
        weight_decay: float = 1e-5,
        random_state: int = 0,
        threads: int | None = 1,
    ) -> None:
        self.hidden = hidden
        self.latent = latent
        self.head_hidden = head_hidden
        self.lam = lam
        self.log_target = log_target
        self.log_inputs = log_inputs
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.threads = threads

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> tuple[int, ...]:
        if isinstance(self.hidden, str | bytes) or not isinstance(self.hidden, Sequence) or (
                not self.hidden):
            raise ConfigError("hidden", self.hidden, "a non-empty sequence of integers >= 1")
        hidden = tuple(check_int("hidden", h, min_value=1) for h in self.hidden)
        check_int("latent", self.latent, min_value=1)
        check_int("head_hidden", self.head_hidden, min_value=1)
        check_float("lam", self.lam, min_value=0.0)
        for name in ("log_target", "log_inputs"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ConfigError(name, getattr(self, name), (True, False))
        check_int("epochs", self.epochs, min_value=1)
        check_int("batch_size", self.batch_size, min_value=1)
        check_float("lr", self.lr, min_value=0.0, min_inclusive=False)
        check_float("weight_decay", self.weight_decay, min_value=0.0)
        check_int("random_state", self.random_state, min_value=0, max_value=2**63 - 1)
        if self.threads is not None:
            check_int("threads", self.threads, min_value=1)
        return hidden

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        Z = _signed_log(X) if self.log_inputs else X
        return (Z - self.x_mean_) / self.x_scale_

    def _build(self, n_in: int, hidden: tuple[int, ...], gen: Any) -> Any:
        import torch
        from torch import nn

        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, int(self.latent)))
        net = nn.ModuleDict({
            "encoder": nn.Sequential(*layers),
            "predictor": nn.Sequential(nn.ReLU(), nn.Linear(int(self.latent),
                                                            int(self.head_hidden)),
                                       nn.ReLU(), nn.Linear(int(self.head_hidden), 1)),
            "decoder": nn.Sequential(nn.ReLU(), nn.Linear(int(self.latent),
                                                          int(self.head_hidden)),
                                     nn.ReLU(), nn.Linear(int(self.head_hidden), n_in)),
        })
        with torch.no_grad():  # deterministic initialisation from our own generator
            for m in net.modules():
                if isinstance(m, nn.Linear):
                    w = float(np.sqrt(3.0 / m.in_features))  # LeCun: variance 1 / fan_in
                    b = float(1.0 / np.sqrt(m.in_features))
                    m.weight.uniform_(-w, w, generator=gen)
                    m.bias.uniform_(-b, b, generator=gen)
        return net

    # ------------------------------------------------------------------ API
    def fit(self, X: Any, y: Any) -> MEDN:
        """Train on ``X`` (n_samples, n_features) and ``y`` (n_samples,); return ``self``.

        Raises
        ------
        ConfigError
            A bad hyperparameter (before any training).
        ValueError
            Malformed data (NaN/inf, wrong shapes), or ``log_target`` with a target <= 0.
        """
        import torch

        from effdl_kit._core.rng import torch_seeded
        from effdl_kit.measure import fixed_threads

        hidden = self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, reset=True)
        y = np.asarray(y, dtype=np.float64).ravel()
        if self.log_target:
            if np.any(y <= 0):
                raise ValueError("MEDN(log_target=True) needs a target > 0 (latencies)")
            t = np.log(y)
        else:
            t = y
        Z = _signed_log(X) if self.log_inputs else X
        self.x_mean_ = Z.mean(axis=0)
        scale = Z.std(axis=0)
        self.x_scale_ = np.where(scale > 1e-12, scale, 1.0)
        self.y_mean_ = float(t.mean())
        ys = float(t.std())
        self.y_scale_ = ys if ys > 1e-12 else 1.0
        Xs = (Z - self.x_mean_) / self.x_scale_
        ts = (t - self.y_mean_) / self.y_scale_
        gen = torch.Generator().manual_seed(int(self.random_state))
        with fixed_threads(self.threads), torch_seeded(int(self.random_state) % 2**32):
            # torch_seeded: nn.Linear's default initialisation draws from the global RNG;
            # forked here, and overwritten from ``gen`` anyway
            net = self._build(X.shape[1], hidden, gen)
            xt = torch.as_tensor(Xs, dtype=torch.float32)
            yt = torch.as_tensor(ts, dtype=torch.float32)
            opt = torch.optim.Adam(net.parameters(), lr=float(self.lr),
                                   weight_decay=float(self.weight_decay))
            n = len(xt)
            bs = min(int(self.batch_size), n)
            lam = float(self.lam)
            curve: list[float] = []
            net.train()
            for _ in range(int(self.epochs)):
                perm = torch.randperm(n, generator=gen)
                total = 0.0
                for s in range(0, n, bs):
                    idx = perm[s:s + bs]
                    xb = xt[idx]
                    z = net["encoder"](xb)
                    pred = net["predictor"](z).squeeze(-1)
                    loss = torch.mean((pred - yt[idx]) ** 2)
                    if lam > 0:
                        loss = loss + lam * torch.mean((net["decoder"](z) - xb) ** 2)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                curve.append(total / n)
            net.eval()
        self.net_ = net
        self.loss_curve_ = curve
        self.n_iter_ = int(self.epochs)
        return self

    def _forward(self, X: Any, head: str) -> np.ndarray:
        import torch

        from effdl_kit.measure import fixed_threads

        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        xs = torch.as_tensor(self._inputs(X), dtype=torch.float32)
        with fixed_threads(self.threads), torch.inference_mode():
            z = self.net_["encoder"](xs)
            out = self.net_[head](z)
        return np.asarray(out.numpy(), dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted latency, shape (n_samples,) (the prediction path only)."""
        t = self._forward(X, "predictor")[:, 0] * self.y_scale_ + self.y_mean_
        return np.exp(t) if self.log_target else t

    def reconstruct(self, X: Any) -> np.ndarray:
        """The decoder's reconstruction of the standardised inputs, shape (n, n_features)."""
        return self._forward(X, "decoder")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = bool(self.log_target)
        tags.non_deterministic = False
        return tags
