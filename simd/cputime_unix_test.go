//go:build unix

package simd

import "syscall"

// cpuNs is the CPU time (user and system) the process has used, in ns: on a
// shared machine it moves far less with the load than the wall clock.
func cpuNs() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}
