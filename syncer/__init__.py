"""syncer: Shopify <-> Unleashed sync."""

__version__ = "0.1.0"
