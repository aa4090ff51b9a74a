package xdsclient

// ForceSotW makes a client configured with cfg speak State of the World from
// the start, without trying Delta.
func ForceSotW(cfg *Config) { cfg.sotw = true }
