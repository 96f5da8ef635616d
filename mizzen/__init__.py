"""The mizzen command line and launcher: `mizzen up` runs a whole cluster in one process."""
