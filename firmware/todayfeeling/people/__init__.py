"""Household members: face embeddings of enrolled people, and who of them is in front of the device."""
