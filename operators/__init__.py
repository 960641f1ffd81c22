"""Dataflow building blocks: plain functions from Stream to Stream (Bytewax `@operator`)."""
