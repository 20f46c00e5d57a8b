package autodiff

import "math"

// PoisonBuffers puts NaN-filled blocks of the given lengths into the
// engine's buffer cache: a kernel that draws one and leaves part of it
// unwritten shows NaN there.
func PoisonBuffers[T Float](e *Engine[T], lens ...int) {
	e.bufs.mu.Lock()
	defer e.bufs.mu.Unlock()
	for _, n := range lens {
		b := make([]T, n)
		for i := range b {
			b[i] = T(math.NaN())
		}
		e.bufs.put(&b)
	}
}
