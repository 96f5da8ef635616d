"""Storage behind the API server: the Store protocol and its drivers."""

from apiserver.storage.base import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
    Store,
    Watch,
)

__all__ = [
    "CompactedError", "ConflictError", "Event", "KeyExistsError", "KeyNotFoundError", "KeyValue",
    "ListResult", "Store", "StorageError", "Watch",
]
