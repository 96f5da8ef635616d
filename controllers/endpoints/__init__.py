"""The Endpoints controller (pkg/controller/endpoint): an Endpoints object per Service with a
selector."""
