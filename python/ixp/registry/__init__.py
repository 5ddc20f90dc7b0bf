"""The intent and component registries: definitions checked at load, one immutable `Registry` per
version, the reference that swaps versions, and hot reload."""

from ixp.registry.bodies import CachedBody
from ixp.registry.loader import load_registry, parse_components, parse_intents
from ixp.registry.reference import RegistryRef
from ixp.registry.version import Registry

__all__ = ["CachedBody", "Registry", "RegistryRef", "load_registry", "parse_components", "parse_intents"]
