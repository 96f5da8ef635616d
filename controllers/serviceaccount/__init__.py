"""The ServiceAccount controller (pkg/controller/serviceaccount): a `default` ServiceAccount
in every active namespace."""
