"""edgeloop.models: data generators, features, training, quantization, the int8 model compiler and the zoo."""
