"""Recorded sessions: the recorder that writes them, and the library that lists, loads, merges and replays them."""
