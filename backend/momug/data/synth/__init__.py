"""The procedural text-motion corpus: parametrised actions, sequencing, captions, dataset writer."""
