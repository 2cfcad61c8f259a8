"""Training: jitted train/eval steps over trainable parameters only, FLOP accounting, checkpoints."""

from flax_adapters.training.steps import (TrainState, adamw, init_state, loss_value, make_eval_step,
                                          make_loss_fn, make_train_step)

__all__ = ["TrainState", "adamw", "init_state", "loss_value", "make_eval_step", "make_loss_fn",
           "make_train_step"]
