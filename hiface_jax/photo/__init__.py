"""From a photo file to aligned face crops: robust reading, landmark detection, similarity crops, masks."""
