"""mizzen's controllers: the reconcilers of kube-controller-manager, as ordinary API clients.

They never import the API server or its storage: they list/watch and write through the
Kubernetes REST API only, so they would run unchanged against any Kubernetes cluster."""
