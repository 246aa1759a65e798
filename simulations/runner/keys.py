"""Results-store keys: the canonical JSON of a run's description, hashed with the version.

Every run's key is `versioned_key(payload)`: the SHA-256 of the canonical JSON of its
parameters and instance with the package version added, so that the same run is found
again in any store and a new release never reuses an older one's results
(docs/usage.md#results-store). E3's `canonical_key` (simulations/_specs.py) and the
protocol's `Run.key` both build on it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from collections.abc import Mapping

__all__ = ["canonical_json", "package_version", "payload_key", "versioned_key"]

# Distribution name in pyproject.toml; its version enters every canonical key.
_DISTRIBUTION = "incidental-polysemanticity"
# Used when the package runs from a source tree without installed metadata.
# Keep equal to pyproject.toml's version.
_FALLBACK_VERSION = "0.1.0"


@functools.cache
def package_version() -> str:
    """The installed package version, or `_FALLBACK_VERSION` when running from a source tree.

    Read once per process: the metadata lookup parses the distribution's METADATA file
    (about 3 ms), and every store key needs the version.
    """
    try:
        return importlib.metadata.version(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return _FALLBACK_VERSION


def canonical_json(payload: Mapping) -> str:
    """One text per value: sorted keys, fixed separators, strict JSON.

    json writes floats with repr(), the shortest round-tripping form, so equal floats
    give equal text.
    """
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


def payload_key(payload: Mapping) -> str:
    """SHA-256 hex digest of `canonical_json(payload)`."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def versioned_key(payload: Mapping) -> str:
    """Store key of a run described by `payload` (its parameters and instance): the
    `payload_key` of the payload with the package version added under "version".

    The version is included because a new release may change what a run computes;
    stored runs of an older version are then not reused.
    """
    return payload_key({**payload, "version": package_version()})
