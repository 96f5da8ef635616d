"""The mizzen API server: Kubernetes REST over a Store (SQLite by default).

It never imports controllers, the kubelet or mizzen: they are API clients like any other."""
