"""Quality metrics of stylized images (torchmetrics) and the evaluation loop."""
