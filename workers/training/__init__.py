"""Fine-tuning (full or LoRA) of text classifiers and causal LMs: plain Python over torch, transformers and peft.

- finetune.py: the public API (FinetuneConfig, FinetuneResult, finetune, validate_rows, choose_device). Importing it
  does not import torch, so the web process can build configs and check rows before queueing a job.
- data.py: row checks, labels, tokenisation and batching; loop.py: the training loop, evaluation and checkpoints;
  models.py: loading, LoRA wrapping and saving; metrics.py: accuracy, macro F1, perplexity.
- card.py: the model card (README.md) and the training-curve SVG published with the result.
"""
