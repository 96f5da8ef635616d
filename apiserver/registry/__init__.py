"""The API server's registry: per-kind strategies (defaulting, validation, what create,
update and /status do), the admission plug-ins that mutate pods, and the shared validators
with Kubernetes' exact messages.

Handlers use `strategy_for(resource)` and `admit(...)`; nothing here does I/O or knows about
HTTP or storage (and `tables.py`, server-side printing, lives here but is separate).
"""

from apiserver.registry.admission import (
    AdmissionConfig,
    admit,
    admit_create,
    admit_update,
    make_admit,
)
from apiserver.registry.strategy import Strategy, strategy_for

__all__ = ["AdmissionConfig", "Strategy", "admit", "admit_create", "admit_update", "make_admit", "strategy_for"]
