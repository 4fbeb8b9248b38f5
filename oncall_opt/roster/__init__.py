"""The roster optimizer, pure: input.json in, a proven-optimal roster out. No database, no HTTP."""
