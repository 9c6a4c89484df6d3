"""Multi-gate mixture of experts with a per-node-type residual to its input."""
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MMoE"]


class MMoE(nn.Module):
    r"""MMoE block of MTHGT, Eq. (12)–(14) (Ma et al., KDD 2018, plus a gated residual).

    For an input row :math:`x` (a node's GNN output) of node type :math:`\tau`, experts
    :math:`i = 1..n` shared by all tasks and types, and task :math:`k`:

    .. math::

        f_i(x) &= \sigma(W_i x + b_i) \hspace{14em} (12) \\
        g^k(x) &= \operatorname{softmax}(W_{g^k} x + b_{g^k}) \in \Delta^{n-1}
            \hspace{6.7em} (13) \\
        y^k &= \alpha_{k,\tau} \sum_{i=1}^{n} g^k_i(x)\, f_i(x)
            + (1 - \alpha_{k,\tau})\, P x \hspace{5em} (14)

    with :math:`\alpha_{k,\tau} = \text{sigmoid}(a_{k,\tau})` learnable per task and node type,
    :math:`\sigma` the ``activation`` (dropout applied to expert outputs), and :math:`P`
    a bias-free linear map shared by all types when ``in_size != expert_size`` (identity
    otherwise). All experts are computed with one matrix product, as are all gates.

    Parameters
    ----------
    in_size : int
        Input size (the GNN's output size).
    expert_size : int
        Output size of each expert and of each task's output.
    num_experts : int
        Number of shared experts :math:`n`.
    num_tasks : int
        Number of tasks, i.e. gates and outputs.
    ntypes : list[str] or None
        Node types with their own residual weight :math:`\alpha_{k,\tau}`. ``None``: one
        :math:`\alpha_k` per task, shared by all inputs.
    activation : callable or None
        Expert activation :math:`\sigma`; default GELU, ``None`` for identity.
    dropout : float
        Dropout on expert outputs.
    expert_bias : bool
        Give the experts the bias :math:`b_i` of Eq. (12) (default). Without it, and with
        ``activation=None``, the block is linear in its input: when outputs are compared by inner
        products, a shared bias adds the same vector to every node, i.e. a learned per-item
        score offset that ranks every user's items alike (popularity).
    init_alpha : float
        Initial :math:`\alpha_{k,\tau}` in (0, 1); default 0.5. A small value starts the block
        close to the identity (its input passes through), so it deviates only as far as the
        tasks gain from it.

    Examples
    --------
    >>> import torch
    >>> from hetrec.nn import MMoE
    >>> mmoe = MMoE(16, 16, num_experts=4, num_tasks=2, ntypes=['user', 'item'])
    >>> outs = mmoe({'user': torch.randn(3, 16), 'item': torch.randn(5, 16)})
    >>> len(outs), tuple(outs[1]['item'].shape)
    (2, (5, 16))
    """

    def __init__(
        self,
        in_size,
        expert_size,
        num_experts,
        num_tasks,
        ntypes=None,
        activation=F.gelu,
        dropout=0.0,
        init_alpha=0.5,
        expert_bias=True,
    ):
        super().__init__()
        self.in_size = in_size
        self.expert_size = expert_size
        self.num_experts = num_experts
        self.num_tasks = num_tasks
        self.ntypes = list(ntypes) if ntypes is not None else None
        self.activation = activation
        if not 0.0 < init_alpha < 1.0:
            raise ValueError(f"init_alpha must be in (0, 1), got {init_alpha}")
        self.init_alpha = init_alpha
        self.experts = nn.Linear(in_size, num_experts * expert_size, bias=expert_bias)
        self.gates = nn.Linear(in_size, num_tasks * num_experts)
        self.residual_proj = (
            nn.Linear(in_size, expert_size, bias=False) if in_size != expert_size else None
        )
        self.skip = nn.Parameter(torch.empty(num_tasks, len(self.ntypes) if self.ntypes else 1))
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialise every parameter (called by ``__init__``)."""
        self.experts.reset_parameters()
        self.gates.reset_parameters()
        if self.residual_proj is not None:
            self.residual_proj.reset_parameters()
        # alpha = sigmoid(skip) = init_alpha at start
        nn.init.constant_(self.skip, math.log(self.init_alpha / (1.0 - self.init_alpha)))

    def forward(self, x, ntype=None, return_gates=False):
        """Task outputs :math:`y^1..y^K`.

        Parameters
        ----------
        x : Tensor or dict[str, Tensor]
            ``(N, in_size)`` inputs, or such tensors by node type.
        ntype : str or None
            Node type of a Tensor input, when the module has ``ntypes``.
        return_gates : bool
            Also return the gate weights :math:`g^k(x)`.

        Returns
        -------
        list
            One entry per task: a ``(N, expert_size)`` Tensor, or a dict by type if ``x`` is a
            dict. With ``return_gates``, a pair ``(outputs, gates)`` where gates has the same
            structure with ``(N, num_experts)`` tensors (rows sum to 1).
        """
        if isinstance(x, dict):
            per_type = {t: self._forward_tensor(xt, t) for t, xt in x.items()}
            outputs = [{t: per_type[t][0][k] for t in x} for k in range(self.num_tasks)]
            gates = [{t: per_type[t][1][k] for t in x} for k in range(self.num_tasks)]
        else:
            outputs, gates = self._forward_tensor(x, ntype)
        return (outputs, gates) if return_gates else outputs

    def _forward_tensor(self, x, ntype):
        n, e, k = x.shape[0], self.num_experts, self.num_tasks
        col = self._type_column(ntype)
        experts = self.experts(x).view(n, e, self.expert_size)
        if self.activation is not None:
            experts = self.activation(experts)
        experts = self.dropout(experts)
        gates = torch.softmax(self.gates(x).view(n, k, e), dim=-1)
        mixed = torch.bmm(gates, experts)  # (n, tasks, expert_size)
        prev = self.residual_proj(x) if self.residual_proj is not None else x
        alpha = torch.sigmoid(self.skip[:, col])
        outputs = [alpha[t] * mixed[:, t] + (1 - alpha[t]) * prev for t in range(k)]
        return outputs, list(gates.unbind(1))

    def _type_column(self, ntype):
        if self.ntypes is None:
            return 0
        if ntype is None:
            raise ValueError("this MMoE has per-type residuals: pass a dict or ntype=")
        try:
            return self.ntypes.index(ntype)
        except ValueError:
            raise KeyError(f"unknown node type {ntype!r}; known: {self.ntypes}") from None

    def extra_repr(self):
        return (
            f"in_size={self.in_size}, expert_size={self.expert_size}, "
            f"num_experts={self.num_experts}, num_tasks={self.num_tasks}, ntypes={self.ntypes}"
        )
