package simd

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func threadCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6 + float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
}

func BenchmarkTune(b *testing.B) {
	SetThreads(1)
	for _, im := range strings.Split(os.Getenv("TUNE_IMPL"), ",") {
		for _, kcS := range strings.Split(os.Getenv("TUNE_KC"), ",") {
			for _, mcS := range strings.Split(os.Getenv("TUNE_MC"), ",") {
				for _, nS := range strings.Split(os.Getenv("TUNE_N"), ",") {
					kc, _ := strconv.Atoi(kcS)
					mc, _ := strconv.Atoi(mcS)
					n, _ := strconv.Atoi(nS)
					b.Run(fmt.Sprintf("%s/kc=%d/mc=%d/n=%d", im, kc, mc, n), func(b *testing.B) {
						defer setImpl(im)()
						defer setBlocking(kc, mc, 3072)()
						if ki := os.Getenv("TUNE_KI"); ki != "" {
							i, _ := strconv.Atoi(ki)
							old := active.sgemm
							active.sgemm = old[i : i+1]
							defer func() { active.sgemm = old }()
						}
						runtime.LockOSThread()
						a := make([]float32, n*n)
						bb := make([]float32, n*n)
						c := make([]float32, n*n)
						t0 := threadCPU()
						for b.Loop() {
							Sgemm(false, false, n, n, n, 1, a, n, bb, n, 0, c, n)
						}
						b.ReportMetric(2*float64(n*n*n)*float64(b.N)/(threadCPU()-t0)/1e9, "GFLOP/s")
					})
				}
			}
		}
	}
}
