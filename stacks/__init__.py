"""The composition of the lab's components from the typed config (chaoslab.config), and its cost estimate."""
