"""absl entry points (`python -m launch.<name>` from the repository root); the logic lives in lazyfeat_tf."""
