// Command gemm compares simd.Sgemm with OpenBLAS's cblas_sgemm, side by side,
// on the same square and tall-skinny products, and prints a markdown table of
// median GFLOP/s.
//
//	go run . -impl avx512 -threads 1,2
//
// OpenBLAS picks its kernels from OPENBLAS_CORETYPE (unset: from the CPU);
// the table says which core ran.
package main

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/onnx-adapt/onnx-adapt/simd"
)

type shape struct {
	name    string
	m, n, k int
	transB  bool // B stored n×k (ONNX Gemm's weights with transB=1)
}

func main() {
	impl := flag.String("impl", "", "simd implementation to run (default: the one chosen at start-up)")
	threadList := flag.String("threads", "1,2", "comma-separated thread counts")
	runs := flag.Int("runs", 7, "timed runs per size; the median is reported")
	minRun := flag.Duration("mintime", 100*time.Millisecond, "minimum duration of one timed run")
	settle := flag.Duration("settle", 150*time.Millisecond, "with several threads, idle time before each timed run, so that the other library's threads have stopped polling for work (OpenBLAS's poll for 2^28 cycles, about 0.1 s)")
	sizes := flag.String("sizes", "64,128,256,512,1024,2048,512x512x16,512x512x64", "square sizes n, or MxKxN (M×K times K×N), MxKxNt with B stored transposed")
	flag.Parse()
	if *impl != "" {
		if err := simd.SetImpl(*impl); err != nil {
			log.Fatal(err)
		}
	}
	var shapes []shape
	for _, s := range strings.Split(*sizes, ",") {
		trans := strings.HasSuffix(s, "t")
		f := strings.Split(strings.TrimSuffix(s, "t"), "x")
		d := make([]int, len(f))
		for i, x := range f {
			v, err := strconv.Atoi(x)
			if err != nil {
				log.Fatalf("bad size %q", s)
			}
			d[i] = v
		}
		switch len(d) {
		case 1:
			if trans {
				log.Fatalf("bad size %q: t needs MxKxN", s)
			}
			shapes = append(shapes, shape{"n=" + s, d[0], d[0], d[0], false})
		case 3:
			shapes = append(shapes, shape{s, d[0], d[2], d[1], trans})
		default:
			log.Fatalf("bad size %q", s)
		}
	}

	core := C.GoString(C.openblas_get_corename())
	fmt.Printf("OpenBLAS core: %s; config: %s\n", core, C.GoString(C.openblas_get_config()))
	fmt.Printf("OPENBLAS_CORETYPE=%q; simd implementation: %s; GOMAXPROCS=%d\n\n", os.Getenv("OPENBLAS_CORETYPE"), simd.Impl(), runtime.GOMAXPROCS(0))
	fmt.Printf("| size | threads | simd.Sgemm (%s) GFLOP/s | OpenBLAS (%s) GFLOP/s | ours/OpenBLAS |\n", simd.Impl(), core)
	fmt.Println("|---|---|---|---|---|")
	for _, ts := range strings.Split(*threadList, ",") {
		threads, err := strconv.Atoi(ts)
		if err != nil {
			log.Fatalf("bad thread count %q", ts)
		}
		simd.SetThreads(threads)
		C.openblas_set_num_threads(C.int(threads))
		for _, sh := range shapes {
			pause := time.Duration(0)
			if threads > 1 {
				pause = *settle
			}
			ours, theirs := measure(sh, *runs, *minRun, pause)
			fmt.Printf("| %s | %d | %.1f | %.1f | %.2f |\n", sh.name, threads, ours, theirs, ours/theirs)
		}
	}
}

// measure returns the median GFLOP/s of simd.Sgemm and cblas_sgemm, timing
// them alternately so that both see the same machine load, each after pause
// idle: a library's threads poll for a while after its last call (OpenBLAS's
// for about 0.1 s) and would otherwise take a core from the other's run.
func measure(sh shape, runs int, minRun, pause time.Duration) (ours, theirs float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := make([]float32, sh.m*sh.k)
	b := make([]float32, sh.k*sh.n)
	c := make([]float32, sh.m*sh.n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range b {
		b[i] = rng.Float32()
	}
	flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k)
	ldb, tB := sh.n, uint32(C.CblasNoTrans)
	if sh.transB {
		ldb, tB = sh.k, C.CblasTrans
	}
	goF := func() { simd.Sgemm(false, sh.transB, sh.m, sh.n, sh.k, 1, a, sh.k, b, ldb, 0, c, sh.n) }
	cF := func() {
		C.cblas_sgemm(C.CblasRowMajor, C.CblasNoTrans, tB, C.blasint(sh.m), C.blasint(sh.n), C.blasint(sh.k),
			1, (*C.float)(unsafe.Pointer(&a[0])), C.blasint(sh.k), (*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
			0, (*C.float)(unsafe.Pointer(&c[0])), C.blasint(sh.n))
	}
	// Calibrate a repetition count giving runs of at least minRun.
	reps := 1
	for {
		t := time.Now()
		for i := 0; i < reps; i++ {
			goF()
		}
		if time.Since(t) >= minRun/4 {
			break
		}
		reps *= 2
	}
	reps *= 4
	timeIt := func(f func()) float64 {
		time.Sleep(pause)
		t := time.Now()
		for i := 0; i < reps; i++ {
			f()
		}
		return flops * float64(reps) / time.Since(t).Seconds() / 1e9
	}
	cF() // warm up OpenBLAS's buffers and threads
	var g, o []float64
	for r := 0; r < runs; r++ {
		g = append(g, timeIt(goF))
		o = append(o, timeIt(cF))
	}
	return median(g), median(o)
}

func median(x []float64) float64 {
	slices.Sort(x)
	return x[len(x)/2]
}
