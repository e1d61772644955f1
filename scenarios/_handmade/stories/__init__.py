"""One module per bundle of the handmade set: build() returns a kit.Bundle."""
