"""Data: synthetic IV-bottle images and IMU recordings, and the readers/writers of edgeloop's data formats."""
