"""The claims job: the papers' accuracy and convergence claims measured by real training runs,
each judged confirmed / refuted / inconclusive by a stated rule over seeds (experiments/claims.py).

    from flax_adapters_lab.claims import from_config_dict, run_claims
    rows = run_claims(from_config_dict(get_config("quick")), "runs/claims_quick")
"""

from .config import ClaimsConfig, default_config, from_config_dict
from .runner import run_claims

__all__ = ["ClaimsConfig", "default_config", "from_config_dict", "run_claims"]
