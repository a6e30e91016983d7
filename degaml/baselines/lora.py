"""The LoRA training primitives of the baselines: they live in degaml.generator.lora_fit (the multi-task LoRA
of the generator is trained with them too); re-exported here for the baselines."""

from degaml.generator.lora_fit import (LoraShape, StepFn, fit_lora, lora_state, save_adapter, set_lora, trainable_lora,
                                       write_adapter)

__all__ = ["LoraShape", "StepFn", "fit_lora", "lora_state", "save_adapter", "set_lora", "trainable_lora", "write_adapter"]
