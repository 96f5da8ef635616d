"""The root-ca-cert-publisher (pkg/controller/certificates/rootcacertpublisher): the
`kube-root-ca.crt` ConfigMap in every namespace."""
