"""The EndpointSlice controller (pkg/controller/endpointslice): `discovery.k8s.io/v1`
EndpointSlices per Service with a selector."""
