"""The ReplicationController controller: the ReplicaSet controller for the older `v1` kind,
whose `spec.selector` is a plain label map."""
