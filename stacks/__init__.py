"""The stack's typed config model and the composition of the lab's components."""
