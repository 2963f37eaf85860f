"""Training (torch): tasks, the engine that trains a population of trials, the LR range test."""
