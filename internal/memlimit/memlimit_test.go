package memlimit

import (
	"bufio"
	"runtime/debug"
	"strings"
	"testing"
)

// TestMemTotal parses /proc/meminfo's line and refuses what it cannot read.
func TestMemTotal(t *testing.T) {
	for text, want := range map[string]int64{
		"MemTotal:       24576000 kB\nMemFree: 1 kB\n": 24576000 << 10,
		"MemFree: 1 kB\nMemTotal: 1024 kB\n":           1 << 20,
		"MemTotal: 1024 MB\n":                          0,
		"MemTotal: -5 kB\n":                            0,
		"MemTotal: x kB\n":                             0,
		"":                                             0,
	} {
		if got := memTotal(bufio.NewScanner(strings.NewReader(text))); got != want {
			t.Errorf("%q: %d, want %d", text, got, want)
		}
	}
	if got := limitFor(1 << 30); got != 3<<28 {
		t.Errorf("limit for 1 GiB: %d", got)
	}
	if limitFor(0) != 0 {
		t.Error("a limit for an unknown memory size")
	}
}

// TestSetRespectsGOMEMLIMIT leaves the runtime's limit alone when the user
// set one, and otherwise sets Fraction of the machine's memory.
func TestSetRespectsGOMEMLIMIT(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if Set() != 0 || debug.SetMemoryLimit(-1) != before {
		t.Error("Set changed the limit despite GOMEMLIMIT")
	}
	t.Setenv("GOMEMLIMIT", "")
	got := Set()
	if total := physicalBytes(); total > 0 {
		if got != limitFor(total) || debug.SetMemoryLimit(-1) != got {
			t.Errorf("limit %d (runtime %d), want %d", got, debug.SetMemoryLimit(-1), limitFor(total))
		}
	} else if got != 0 {
		t.Errorf("unknown memory size: limit %d", got)
	}
}
