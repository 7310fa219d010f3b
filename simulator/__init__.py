"""Talking to models: base simulators run in-process by llama.cpp, chat models through litellm."""

import os

# llama.cpp's CPU backend runs its threads under OpenMP. libgomp's default busy-wait (300k spins) makes
# every batched decode crawl — 10x slower, measured — as soon as another thread or process wants one of
# the two cores, which in this app is always (Streamlit, SQLite writes, the lane threads). A short spin
# keeps single-token decode at full speed. libgomp reads this when llama_cpp is first imported.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")
