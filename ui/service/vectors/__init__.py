"""Persona directions (issue 21): stored named vectors and what is done with them. views.py (what a page or command
reads about a direction, and a steering as typed: `NAME:ALPHA[:FIRST-LAST]`), service.py (the `Vectors` front ends,
conversations and experiments use: save, list, show, resolve a steering, check it fits a lane's model, build its
control vector, export it as a control-vector GGUF for llama-server)."""
