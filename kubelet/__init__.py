"""The mizzen kubelet: the node agent that turns pods bound to its node into processes.

It is an ordinary API client: it must never import the API server or touch its storage.
"""
