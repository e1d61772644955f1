"""Kubernetes read tools over the official client, and a loopback fake API server."""
from tools.k8s.client import KubeConfigError, make_api_client
from tools.k8s.factory import kubernetes_tools
from tools.k8s.fake_api import FakeKubeAPI

__all__ = ["FakeKubeAPI", "KubeConfigError", "kubernetes_tools", "make_api_client"]
