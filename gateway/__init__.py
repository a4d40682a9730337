"""Envoy gateway configuration, rendered from the protos (`python -m gateway.render`).

`gateway.catalog` reads the RPCs and their access policies from the descriptor set Envoy
loads; `gateway.render` turns them into one Envoy bootstrap (deploy/envoy.yaml).
"""
