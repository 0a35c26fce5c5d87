"""Training Gavel's hate-speech model from the labelled sets, and the dev split every figure is measured on."""
