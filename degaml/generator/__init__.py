"""Generalization module: LoRA checkpoint collection, parameter tokenizer, hyper-convolutional generator."""
