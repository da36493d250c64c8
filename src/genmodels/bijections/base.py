"""The bijection interface, composition and inversion.

Direction convention: a bijection's *forward* maps data :math:`x` to the base/latent
:math:`z = f(x)` (the normalising direction). Both directions return the log-absolute
determinant of their own Jacobian, computed in the same pass as the output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn


class Bijection(nn.Module, ABC):
    r"""An invertible map :math:`z = f(x \mid c)` of vectors ``(B, d)`` with its log-determinant.

    .. math:: \log |\det J_f(x)| = \log \left|\det \frac{\partial z}{\partial x}\right|

    Subclasses implement both directions; each returns ``(output, log_det)`` with
    ``log_det`` of shape ``(B,)``, and the inverse's ``log_det`` is
    :math:`\log|\det \partial x / \partial z| = -\log|\det \partial z / \partial x|`.
    A condition ``cond`` of shape ``(B, C)`` is passed through; layers that do not use it
    ignore it.
    """

    @abstractmethod
    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns :math:`z = f(x)` and :math:`\\log|\\det \\partial z/\\partial x|`."""

    @abstractmethod
    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns :math:`x = f^{-1}(z)` and :math:`\\log|\\det \\partial x/\\partial z|`."""

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Returns :math:`z = f(x)` only."""
        return self.forward_and_log_det(x, cond)[0]

    def inverse(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """Returns :math:`x = f^{-1}(z)` only."""
        return self.inverse_and_log_det(z, cond)[0]


class Chain(Bijection):
    r"""The composition :math:`f = f_n \circ \dots \circ f_1` (``f_1`` is applied first to data).

    .. math:: \log|\det J_f(x)| = \sum_k \log|\det J_{f_k}(x_{k-1})|, \quad x_0 = x

    Args:
        *bijections: the layers, in the data → latent order.
    """

    def __init__(self, *bijections: Bijection) -> None:
        super().__init__()
        self.bijections = nn.ModuleList(bijections)

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0])
        for b in self.bijections:
            x, ld = b.forward_and_log_det(x, cond)
            total = total + ld
        return x, total

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = z.new_zeros(z.shape[0])
        for b in reversed(self.bijections):
            z, ld = b.inverse_and_log_det(z, cond)
            total = total + ld
        return z, total

    def __len__(self) -> int:
        return len(self.bijections)

    def __getitem__(self, i: int) -> Bijection:
        return self.bijections[i]


class Inverse(Bijection):
    r"""The inverse :math:`f^{-1}` of a bijection, with its directions swapped.

    ``Inverse(MaskedAutoregressive(...))`` is an inverse autoregressive flow (IAF): its
    forward (density) direction is the slow one and its inverse (sampling) the fast one.

    Args:
        bijection: the bijection :math:`f` to invert.
    """

    def __init__(self, bijection: Bijection) -> None:
        super().__init__()
        self.bijection = bijection

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.bijection.inverse_and_log_det(x, cond)

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.bijection.forward_and_log_det(z, cond)
