"""The DeepRM network: EfficientNet backbone, recurrent FC stack, pose heads, training-only flow decoder."""
from .config import ModelConfig, default_hidden_sizes
from .deeprm import DeepRM, StepOutput, create_model, count_parameters
from .recurrent import split_state, stack_states

__all__ = ["ModelConfig", "default_hidden_sizes", "DeepRM", "StepOutput", "create_model", "count_parameters",
           "split_state", "stack_states"]
