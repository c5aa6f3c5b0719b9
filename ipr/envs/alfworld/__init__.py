"""ALFWorld: household text games (embedded simulator, generator, expert; real-engine adapter)."""
