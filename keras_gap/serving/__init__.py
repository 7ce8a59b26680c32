"""Serving: exporting a perturber as a TF Serving SavedModel (``export``) and
the requests a client sends to it (``client``)."""
