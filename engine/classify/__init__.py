"""Classifiers: one model directory (ONNX graph + card) made live behind one backend per model
kind.
"""
