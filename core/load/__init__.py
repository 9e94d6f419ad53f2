"""The Environment model: package records, one walk of the prefix, pip attribution, untracked."""
