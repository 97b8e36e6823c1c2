//go:build race

package memvi

const raceEnabled = true
