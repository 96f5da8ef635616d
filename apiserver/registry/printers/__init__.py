"""Kubernetes' table printers ported to plain JSON objects: formatters, the built-in kinds'
columns and rows, and the JSONPath subset CRD printer columns use. `apiserver.registry.tables`
assembles them into `meta.k8s.io/v1 Table` responses; nothing here does I/O."""
