"""The Deployment controller: rollouts of ReplicaSets.

`decisions` holds the pure arithmetic (template hash, revisions, one rolling step, proportional
scaling, status and conditions); `controller` the informer/queue wiring and the writes."""
