"""Automatic tiny-model design (`edgeloop design`): a search over model families under flash, RAM and
latency budgets, sized exactly by the compiler before training, cross-validated, stored in an Optuna study."""
