"""Privacy on the device: evidence images with people blurred, household tokens never in clear."""
