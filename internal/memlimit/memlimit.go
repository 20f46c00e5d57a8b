// Package memlimit gives the commands a soft memory limit: the Go garbage
// collector lets the heap grow to twice what is live before it collects,
// and the dense and matrix-free fits hold gigabytes of live arrays (the
// kernel factors, the N×N kernel), so near the machine's memory the
// headroom, not the data, is what runs out.
package memlimit

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction is the share of physical memory the soft limit allows.
const Fraction = 0.75

// Set makes the runtime's soft memory limit Fraction of the machine's
// physical memory, so that the collector works harder as the heap nears
// it instead of letting garbage push the process out of memory. It does
// nothing when the user set GOMEMLIMIT or the memory size is unknown, and
// returns the limit it set (0 if none).
func Set() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := limitFor(physicalBytes())
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return limit
}

// limitFor is the limit for a machine of total bytes (0: unknown).
func limitFor(total int64) int64 {
	if total <= 0 {
		return 0
	}
	return int64(float64(total) * Fraction)
}

// physicalBytes reads MemTotal from /proc/meminfo (Linux); 0 elsewhere or
// on any error.
func physicalBytes() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	return memTotal(bufio.NewScanner(f))
}

// memTotal parses the "MemTotal: N kB" line.
func memTotal(sc *bufio.Scanner) int64 {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb <= 0 {
			return 0
		}
		return kb << 10
	}
	return 0
}
