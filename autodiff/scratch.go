package autodiff

import (
	"sync"
	"unsafe"
)

// Scratch buffers: the staging blocks of the convolutions (unfolded
// columns, images gathered side by side, GEMM results before they are laid
// back per image), which every use overwrites before it reads them. They
// are reused across calls, sparing the allocation and zeroing of fresh
// memory on each sweep; the contents a buffer comes with are arbitrary.
var scratch4, scratch8 sync.Pool // *[]T by the size of T

// getScratch returns a buffer of n elements with arbitrary contents;
// putScratch gives it back.
func getScratch[T Float](n int) *[]T {
	pool := &scratch8
	if unsafe.Sizeof(T(0)) == 4 {
		pool = &scratch4
	}
	if p, ok := pool.Get().(*[]T); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	// A buffer too small (or of another type derived from the same
	// float) is dropped: the pool then holds the larger one.
	s := make([]T, n)
	return &s
}

func putScratch[T Float](p *[]T) {
	if unsafe.Sizeof(T(0)) == 4 {
		scratch4.Put(p)
		return
	}
	scratch8.Put(p)
}
