"""The disruption controller: the status of PodDisruptionBudgets (expectedPods,
currentHealthy, desiredHealthy, disruptionsAllowed, DisruptionAllowed condition), which the
API server's eviction subresource reads to allow or refuse an eviction (429).

`decisions` holds the arithmetic; `controller` the informers and the status writes.
Entry points: `DisruptionController` (for the controller manager) and
`run_disruption_controller`."""

from controllers.disruption.controller import DisruptionController, run_disruption_controller

__all__ = ["DisruptionController", "run_disruption_controller"]
