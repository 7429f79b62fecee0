"""The Hugging Face Hub protocol: a thin translation layer from what huggingface_hub, the hf CLI and
transformers send (see shared/HF_PROTOCOL.md) to the registry's selectors and services."""
