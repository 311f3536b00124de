"""Where the hub keeps sample images and upload chunks: a folder, or an S3-compatible store."""
