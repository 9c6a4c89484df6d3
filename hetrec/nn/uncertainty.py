"""Homoscedastic-uncertainty weighting of task losses (Kendall, Gal & Cipolla, CVPR 2018)."""
import torch
from torch import nn

__all__ = ["UncertaintyWeighting"]


class UncertaintyWeighting(nn.Module):
    r"""Combine task losses with learned homoscedastic uncertainty.

    .. math::

        \mathcal{L} = \sum_{i=1}^{T} \exp(-s_i)\, \mathcal{L}_i + s_i,
        \qquad s_i = \log \sigma_i^2

    with :math:`s_i` learned jointly with the model (the log-variance form of Kendall, Gal &
    Cipolla, 2018, as in MTHGT). This is *not* the frequently copied
    :math:`\frac{0.5}{\sigma^2}\mathcal{L} + \log(1+\sigma^2)` variant. For a fixed
    :math:`\mathcal{L}_i > 0` the objective is minimised at :math:`s_i = \log \mathcal{L}_i`,
    so each task's weight :math:`\exp(-s_i)` tends to :math:`1/\mathcal{L}_i`.

    LibMTL's ``UW`` writes the Gaussian-likelihood form
    :math:`\frac{\mathcal{L}_i}{2 e^{s_i}} + \frac{s_i}{2}`: it is this objective times ½ (same
    minimiser :math:`s_i = \log \mathcal{L}_i`, same relative task weights, half the gradient
    scale). hetrec keeps the paper's form (MTHGT's Eq. 15 writes no ½); multiply ``lr`` by 2 to
    match LibMTL's step sizes.

    The weighting is independent of any architecture: give it the task losses.

    Parameters
    ----------
    num_tasks : int
        Number of task losses :math:`T`.
    init_log_var : float
        Initial :math:`s_i` (0: all weights 1).

    Examples
    --------
    >>> import torch
    >>> from hetrec.nn import UncertaintyWeighting
    >>> uw = UncertaintyWeighting(2)
    >>> total = uw([torch.tensor(0.7), torch.tensor(2.0)])
    >>> round(float(total), 4)
    2.7
    >>> uw.task_weights().tolist()
    [1.0, 1.0]
    """

    def __init__(self, num_tasks, init_log_var=0.0):
        super().__init__()
        self.num_tasks = num_tasks
        self.init_log_var = init_log_var
        self.log_vars = nn.Parameter(torch.empty(num_tasks))
        self.reset_parameters()

    def reset_parameters(self):
        """Set every :math:`s_i` to ``init_log_var`` (called by ``__init__``)."""
        nn.init.constant_(self.log_vars, self.init_log_var)

    def forward(self, losses):
        """Weighted total loss.

        Parameters
        ----------
        losses : sequence of scalar Tensors, or a Tensor of shape ``(num_tasks,)``

        Returns
        -------
        Tensor
            Scalar :math:`\\sum_i \\exp(-s_i) L_i + s_i`.
        """
        if not torch.is_tensor(losses):
            losses = torch.stack([torch.as_tensor(loss, dtype=self.log_vars.dtype) for loss in losses])
        if losses.shape != (self.num_tasks,):
            raise ValueError(f"expected {self.num_tasks} task losses, got shape {tuple(losses.shape)}")
        return (torch.exp(-self.log_vars) * losses + self.log_vars).sum()

    @torch.no_grad()
    def task_weights(self):
        """Current weights :math:`\\exp(-s_i)` (a detached ``(num_tasks,)`` tensor), for logging."""
        return torch.exp(-self.log_vars).detach().clone()

    @torch.no_grad()
    def log_dict(self, prefix="task"):
        """``{f'{prefix}{i}_weight': exp(-s_i), f'{prefix}{i}_log_var': s_i}`` as floats."""
        out = {}
        for i, s in enumerate(self.log_vars.tolist()):
            out[f"{prefix}{i}_weight"] = float(torch.exp(torch.tensor(-s)))
            out[f"{prefix}{i}_log_var"] = s
        return out

    def extra_repr(self):
        return f"num_tasks={self.num_tasks}, init_log_var={self.init_log_var}"
