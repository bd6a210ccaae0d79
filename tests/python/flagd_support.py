"""Helpers shared by the flagd sync tests and benchmark: an OpenFeature client bound to a real
`openfeature-provider-flagd` in-process provider syncing over gRPC from `flagwarden serve`, with the sdk
token as `authorization: Bearer` call credentials.

gRPC sends call credentials only over a channel it considers secure: TLS, or "local" credentials, which
grpc-core allows for plaintext TCP to a loopback address. A remote flagwarden would be reached with
`grpc.ssl_channel_credentials()` in place of the local ones (README, "Scaling out")."""

from __future__ import annotations

import grpc
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType


def credentials(token: str | None) -> grpc.ChannelCredentials:
    local = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    if token is None:
        return local
    return grpc.composite_channel_credentials(local, grpc.access_token_call_credentials(token))


def in_process_provider(port: int, token: str | None, selector: str = "development", **extra) -> FlagdProvider:
    return FlagdProvider(
        resolver_type=ResolverType.IN_PROCESS,
        host="127.0.0.1",
        port=port,
        selector=selector,
        channel_credentials=credentials(token),
        deadline_ms=5000,
        **extra,
    )


def in_process_client(port: int, token: str | None, domain: str, selector: str = "development") -> OpenFeatureClient:
    """An OpenFeature client whose provider has received its first definition (set_provider_and_wait)."""
    api.set_provider_and_wait(in_process_provider(port, token, selector), domain=domain)
    return api.get_client(domain)
