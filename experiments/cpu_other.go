//go:build !unix

package experiments

import "math"

// cpuMinutes is not measured on this system.
func cpuMinutes() float64 { return math.NaN() }
