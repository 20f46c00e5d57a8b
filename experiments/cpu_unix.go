//go:build unix

package experiments

import (
	"math"
	"syscall"
)

// cpuMinutes is the user + system CPU time of this process so far.
func cpuMinutes() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	sec := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	return sec / 60
}
