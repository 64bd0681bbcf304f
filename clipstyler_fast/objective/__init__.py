"""The CLIPstyler objective: the losses as pure functions, the prompt templates and the
perspective views. Imports nothing but torch."""
