//go:build !race

// Package israce reports whether the race detector is on: allocation
// budgets are asserted only without it, since it changes allocation (and
// sync.Pool drops items at random under it).
package israce

// Enabled is true when built with -race.
const Enabled = false
