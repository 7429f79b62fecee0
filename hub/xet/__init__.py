"""A Xet storage service (CAS) built into the hub, for huggingface_hub 2.x + hf_xet uploads and downloads."""
