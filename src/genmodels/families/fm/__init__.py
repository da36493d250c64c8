"""Flow matching: conditional flow matching on interpolants, with independent or minibatch-OT
couplings, a Gaussian or data-set source, and velocity, noise or data prediction.

Registers the families ``cfm`` and ``ot-cfm`` (the exact minibatch-OT coupling by default).
"""

from ...registry import Family, register_family
from .build import build_cfm, make_source
from .config import CFMConfig, OTCFMConfig
from .model import DensityFlowMatching, FlowMatching
from .objective import ConditionalFlowMatching
from .source import EmpiricalSource

__all__ = [
    "CFMConfig",
    "ConditionalFlowMatching",
    "DensityFlowMatching",
    "EmpiricalSource",
    "FlowMatching",
    "OTCFMConfig",
    "build_cfm",
    "make_source",
]

register_family(Family(
    name="cfm",
    description="Conditional flow matching on linear/cosine/VP/bridge interpolants "
    "(Lipman et al., 2023; Liu et al., 2023)",
    kind="flow-matching", config=CFMConfig, build=build_cfm))
register_family(Family(
    name="ot-cfm",
    description="Flow matching with exact minibatch-OT couplings (Tong et al., 2024)",
    kind="flow-matching", config=OTCFMConfig, build=build_cfm))
