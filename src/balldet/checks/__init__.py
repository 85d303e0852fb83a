"""Dataset checks: defects of labels and images, duplicates, and leakage between datasets."""
