r"""Mult-VAE (Liang et al., "Variational Autoencoders for Collaborative Filtering", WWW 2018).

A user is their binary row :math:`x_u \in \{0, 1\}^I` of the training matrix. The encoder
(the inference network) reads the L2-normalised row with dropout (training only),

.. math::

    \tilde x_u = \mathrm{dropout}_p\big(x_u / \|x_u\|_2\big), \qquad
    [\mu_u, \log \sigma_u^2] = W_2 \tanh(W_1 \tilde x_u + b_1) + b_2 ,

the latent code is drawn by reparameterisation in training and is the mean at inference,

.. math::

    z_u = \mu_u + \epsilon \odot \sigma_u, \quad \epsilon \sim \mathcal N(0, I)
    \quad (\text{training}), \qquad z_u = \mu_u \quad (\text{inference}),

and the decoder (the generative network) gives the logits of a multinomial over the items,

.. math::

    f_\theta(z_u) = W_4 \tanh(W_3 z_u + b_3) + b_4, \qquad
    \pi(z_u) = \mathrm{softmax}\big(f_\theta(z_u)\big).

The loss of a batch :math:`B` of users is the negative ELBO with the KL term weighted by
:math:`\beta` (the paper's annealed objective),

.. math::

    L = \frac{1}{|B|} \sum_{u \in B} \Big( -\sum_i x_{ui} \log \pi_i(z_u)
        + \beta \cdot \tfrac12 \sum_{d} \big(\sigma_{ud}^2 + \mu_{ud}^2 - 1 - \log \sigma_{ud}^2\big) \Big),
    \qquad \beta = \min\Big(\beta_{\max}, \frac{t}{T}\Big),

plus :math:`\lambda \sum_l \|W_l\|_F^2` over the four weight matrices when ``reg_weight``
:math:`\lambda > 0` (the authors' notebook). :math:`t` counts the training steps taken before
this one (``anneal_step``, a buffer saved with the parameters, so a resumed run anneals on),
:math:`\beta_{\max}` is ``anneal_cap`` and :math:`T` ``total_anneal_steps`` (the schedule of
the authors' notebook). Items are ranked by
:math:`f_\theta(\mu_u)` computed from the user's whole (undropped) training row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ..batching import UserRowBatch, UserRowBatches
from ..nn.sparse import csr_tensor
from .base import LossOutput, Recommender


@dataclass
class MultVAEConfig:
    #: width of the hidden tanh layer of the encoder and of the decoder (600 in the paper)
    hidden_size: int = 600
    #: size of the latent code z (200 in the paper); the encoder's last layer gives 2 x latent_size
    latent_size: int = 200
    #: dropout probability on the normalised input row, training only (0.5 in the paper)
    dropout: float = 0.5
    #: largest KL weight β reached by annealing (0.2 in the paper)
    anneal_cap: float = 0.2
    #: training steps over which β would grow linearly from 0 to 1 (200000 in the authors' code)
    total_anneal_steps: int = 200000
    #: users per batch (500 in the paper)
    batch_size: int = 500
    #: weight λ of the penalty λ‖W‖² on the four weight matrices, biases excepted (0.01 in the
    #: authors' notebook; 0 leaves it out, as RecBole does)
    reg_weight: float = 0.0
    #: the standard deviation of the reparameterisation noise ε in z = μ + ε·σ, 1 in the paper
    #: (ε ~ N(0, 1)); RecBole 1.2.1's MultiVAE draws ε ~ N(0, 0.01²), close to a denoising
    #: auto-encoder (docs/baselines.md compares both on the same folds)
    noise_std: float = 1.0


class MultVAE(Recommender):
    """Mult-VAE. Defaults (:class:`MultVAEConfig`): encoder ``[I -> 600 -> 2*200]`` and decoder
    ``[200 -> 600 -> I]`` with tanh, input dropout 0.5, β annealed as ``min(0.2, t / 200000)``
    per training step, 500 users per batch; Xavier-uniform weights and N(0, 0.001²) biases, as
    the authors' code. The paper's learning rate is 1e-3 (Adam), set in the trainer.

    Deviations from the paper: the authors' notebook adds ``0.01 * ‖W‖²`` on the weight
    matrices; here that penalty is ``reg_weight``, 0 by default (as RecBole); the dropout
    masks and the reparameterisation noise are drawn from the batch's seed, on the CPU (the
    same numbers on every device), so the trainer's generator is the only source of randomness.
    """

    name = "multvae"
    Config = MultVAEConfig
    ddp_find_unused_parameters = False  # every parameter takes part in every step

    def setup(self, split) -> None:
        train = sp.csr_matrix(split.train, dtype=np.float32)
        train.sum_duplicates()
        train.eliminate_zeros()
        train.sort_indices()
        train.data[:] = 1.0
        self.num_users, self.num_items = train.shape
        self.batch_builder = UserRowBatches(train, self.config.batch_size)
        cfg = self.config
        self.encoder_hidden = torch.nn.Linear(self.num_items, cfg.hidden_size)
        self.encoder_out = torch.nn.Linear(cfg.hidden_size, 2 * cfg.latent_size)
        self.decoder_hidden = torch.nn.Linear(cfg.latent_size, cfg.hidden_size)
        self.decoder_out = torch.nn.Linear(cfg.hidden_size, self.num_items)
        # the binary training matrix: a buffer, so it moves with .to(); not saved
        # (persistent=False): setup rebuilds it. Only a batch's rows are ever made dense.
        self.register_buffer("interactions", csr_tensor(
            torch.from_numpy(train.indptr.astype(np.int64)), torch.from_numpy(train.indices.astype(np.int64)),
            torch.from_numpy(train.data), train.shape), persistent=False)
        # training steps taken (t of the annealing): saved with the parameters, so a run
        # resumed from a checkpoint anneals on from where it stopped
        self.register_buffer("anneal_step", torch.zeros((), dtype=torch.long, device=self.device))
        self.reset_parameters()
        self.invalidate_scoring()

    def layers(self) -> tuple:
        """The four linear layers: encoder hidden and output, decoder hidden and output."""
        return self.encoder_hidden, self.encoder_out, self.decoder_hidden, self.decoder_out

    def reset_parameters(self) -> None:
        for layer in self.layers():
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.trunc_normal_(layer.bias, std=0.001, a=-0.002, b=0.002)
        self.anneal_step.zero_()

    # -- the network ------------------------------------------------------------------------------
    def rows(self, users: torch.Tensor) -> torch.Tensor:
        """The dense binary training rows :math:`x_u` of ``users``, ``(len(users), num_items)``."""
        crow, col = self.interactions.crow_indices(), self.interactions.col_indices()
        users = users.to(crow.device)
        start, counts = crow[users], crow[users + 1] - crow[users]
        total = int(counts.sum())
        # entry j of the batch's rows: position start[row] + (j - first entry of row) in col
        row = torch.repeat_interleave(torch.arange(len(users), device=crow.device), counts, output_size=total)
        first = torch.cumsum(counts, 0) - counts
        pos = torch.arange(total, device=crow.device) + (start - first).repeat_interleave(counts, output_size=total)
        x = torch.zeros(len(users), self.num_items, device=crow.device)
        x[row, col[pos]] = 1.0
        return x

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple:
        """``(mu, logvar)`` of rows ``x``; input dropout iff ``generator`` (training)."""
        h = F.normalize(x, p=2, dim=1)
        p = self.config.dropout
        if generator is not None and p > 0:
            keep = torch.rand(h.shape, generator=generator, device=generator.device) >= p
            h = h * keep.to(h.device) / (1 - p)
        out = self.encoder_out(torch.tanh(self.encoder_hidden(h)))
        return out[:, : self.config.latent_size], out[:, self.config.latent_size:]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Item logits :math:`f_\\theta(z)`."""
        return self.decoder_out(torch.tanh(self.decoder_hidden(z)))

    def kl_weight(self) -> float:
        """β for the next training step: ``min(anneal_cap, anneal_step / total_anneal_steps)``."""
        return min(self.config.anneal_cap, int(self.anneal_step) / self.config.total_anneal_steps)

    # -- training ---------------------------------------------------------------------------------
    def loss(self, batch: UserRowBatch) -> LossOutput:
        """The negative annealed ELBO of the batch's users. In training mode the input dropout
        and the noise come from a generator seeded with ``batch.seed``, and the step counter
        ``anneal_step`` advances by one; in eval mode: no dropout, ``z = mu``, no step counted."""
        x = self.rows(batch.users)
        generator = torch.Generator().manual_seed(batch.seed) if self.training else None
        mu, logvar = self.encode(x, generator)
        z = mu
        if generator is not None:
            eps = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu.device)
            z = mu + self.config.noise_std * eps * torch.exp(0.5 * logvar)
        nll = -(F.log_softmax(self.decode(z), dim=1) * x).sum(1).mean()
        kl = (0.5 * (torch.exp(logvar) + mu.pow(2) - 1 - logvar).sum(1)).mean()
        beta = self.kl_weight()
        if self.training:
            with torch.no_grad():
                self.anneal_step += 1
        loss = nll + beta * kl
        logs = {"nll": float(nll.detach()), "kl": float(kl.detach()), "beta": beta}
        if self.config.reg_weight > 0:
            reg = sum(layer.weight.pow(2).sum() for layer in self.layers())
            loss = loss + self.config.reg_weight * reg
            logs["reg"] = float(reg.detach())
        return LossOutput(loss, logs)

    # -- inference --------------------------------------------------------------------------------
    def prepare_scoring(self) -> None:
        """Nothing to precompute: :meth:`scores` encodes the requested users' rows."""
        self._cache = ()

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        """Decoder logits :math:`f_\\theta(\\mu_u)` of the users' whole training rows: no
        dropout and no noise, whatever the mode (deterministic)."""
        with torch.no_grad():
            mu, _ = self.encode(self.rows(users))
            return self.decode(mu)

    def scores_from_history(self, history) -> torch.Tensor:
        """The decoder logits of new users' binary rows (the same encoder pass as :meth:`scores`)."""
        x = sp.csr_matrix(history, dtype=np.float32)
        x.sum_duplicates()
        x.data[:] = 1.0
        with torch.no_grad():
            mu, _ = self.encode(torch.from_numpy(np.asarray(x.todense())).to(self.device))
            return self.decode(mu)
