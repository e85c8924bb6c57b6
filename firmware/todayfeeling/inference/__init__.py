"""On-device vision: TFLite runtime, face detection, alignment and emotion classification."""
