"""Multi-gate mixture of experts with a per-node-type residual to its input."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_features

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
    num_tasks : int or sequence of str
        Number of tasks, i.e. gates and outputs; or the tasks' names (as in LibMTL), so that
        outputs are ``{name: output}`` and ``forward(x, task=name)`` computes one task only.
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
    >>> named = MMoE(16, 16, num_experts=4, num_tasks=['link', 'rec'], ntypes=['user', 'item'])
    >>> sorted(named({'user': torch.randn(3, 16)}))                     # every task, by name
    ['link', 'rec']
    >>> tuple(named({'user': torch.randn(3, 16)}, task='rec')['user'].shape)   # one gate only
    (3, 16)
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
        if isinstance(num_tasks, int):
            self.task_names = None
        else:
            self.task_names = [str(t) for t in num_tasks]
            if len(set(self.task_names)) != len(self.task_names) or not self.task_names:
                raise ValueError(f"task names must be distinct and at least one, got {self.task_names}")
            num_tasks = len(self.task_names)
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

    def forward(self, x, ntype=None, return_gates=False, task=None):
        """Task outputs :math:`y^1..y^K` (or the one of ``task``).

        Parameters
        ----------
        x : Tensor or dict[str, Tensor]
            ``(N, in_size)`` inputs, or such tensors by node type.
        ntype : str or None
            Node type of a Tensor input, when the module has ``ntypes``.
        return_gates : bool
            Also return the gate weights :math:`g^k(x)`.
        task : str, int or None
            Compute only this task (its name, or its index): only its gate is evaluated.

        Returns
        -------
        list, dict or one output
            One entry per task — a list, or ``{name: output}`` when the tasks have names — each a
            ``(N, expert_size)`` Tensor, or a dict by type if ``x`` is a dict; with ``task``, that
            task's entry alone. With ``return_gates``, a pair ``(outputs, gates)`` where gates has
            the same structure with ``(N, num_experts)`` tensors (rows sum to 1).
        """
        tasks = range(self.num_tasks) if task is None else [self._task_index(task)]
        if isinstance(x, dict):
            per_type = {t: self._forward_tensor(xt, t, tasks) for t, xt in x.items()}
            outputs = [{t: per_type[t][0][j] for t in x} for j in range(len(tasks))]
            gates = [{t: per_type[t][1][j] for t in x} for j in range(len(tasks))]
        else:
            outputs, gates = self._forward_tensor(x, ntype, tasks)
        if task is not None:
            outputs, gates = outputs[0], gates[0]
        elif self.task_names is not None:
            outputs, gates = dict(zip(self.task_names, outputs)), dict(zip(self.task_names, gates))
        return (outputs, gates) if return_gates else outputs

    def _task_index(self, task) -> int:
        if isinstance(task, int) and not isinstance(task, bool):
            if not 0 <= task < self.num_tasks:
                raise IndexError(f"task {task} out of range for {self.num_tasks} tasks")
            return task
        if self.task_names is None or task not in self.task_names:
            raise KeyError(f"unknown task {task!r}; tasks: {self.task_names or list(range(self.num_tasks))}")
        return self.task_names.index(task)

    def _forward_tensor(self, x, ntype, tasks=None):
        tasks = list(range(self.num_tasks)) if tasks is None else list(tasks)
        check_features("MMoE", ntype if ntype is not None else "(untyped)", x, self.in_size)
        n, e, k = x.shape[0], self.num_experts, len(tasks)
        col = self._type_column(ntype)
        experts = self.experts(x).view(n, e, self.expert_size)
        if self.activation is not None:
            experts = self.activation(experts)
        experts = self.dropout(experts)
        if k == self.num_tasks:  # every gate in one product
            logits = self.gates(x)
        else:  # only the asked tasks' rows of the gate weights
            rows = torch.cat([torch.arange(t * e, (t + 1) * e, device=x.device) for t in tasks])
            logits = F.linear(x, self.gates.weight[rows], self.gates.bias[rows])
        gates = torch.softmax(logits.view(n, k, e), dim=-1)
        mixed = torch.bmm(gates, experts)  # (n, tasks, expert_size)
        prev = self.residual_proj(x) if self.residual_proj is not None else x
        alpha = torch.sigmoid(self.skip[tasks][:, col])
        outputs = [alpha[j] * mixed[:, j] + (1 - alpha[j]) * prev for j in range(k)]
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
