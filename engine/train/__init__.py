"""Training, evaluation metrics, labelled data sets and model export (fastText conversion, ONNX
encoders).
"""
