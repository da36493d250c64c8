"""Paths from data (t = 0) to noise: forward SDEs, schedules, interpolants, couplings."""
