"""The hub: fleet ingest, devices, dataset versions and labelling (LOOP.md)."""
