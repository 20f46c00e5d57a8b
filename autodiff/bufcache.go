package autodiff

import (
	"slices"
	"sync"
	"unsafe"
)

// Sweep buffers. A JVP or VJP sweep allocates a block for most values it
// passes through, and most of them are dead when it returns. The engine
// keeps those (bufCache) and hands them to the next sweep, which with the
// same shapes then allocates, and zeroes, no fresh memory: the kernels
// that draw on them (allocKernel) overwrite every element. Blocks that a
// result of the sweep shares memory with are not kept; Release gives them
// back once the caller is done with the result.

// bufCacheMax bounds the elements an engine keeps (2²⁷: 512 MiB of
// float32); beyond it, dead blocks are left to the garbage collector.
const bufCacheMax = 1 << 27

// bufCache is an engine's store of sweep buffers. It is safe for
// concurrent sweeps.
type bufCache[T Float] struct {
	mu   sync.Mutex
	free map[int][]*[]T // dead buffers by length
	held int            // elements in free
	// out holds the buffers that the results of the last finished sweep
	// share, by their first element, for Release.
	out map[*T]*[]T
}

// get returns a buffer of n elements with arbitrary contents.
func (c *bufCache[T]) get(n int) *[]T {
	c.mu.Lock()
	if s := c.free[n]; len(s) > 0 {
		p := s[len(s)-1]
		c.free[n] = s[:len(s)-1]
		c.held -= n
		c.mu.Unlock()
		return p
	}
	c.mu.Unlock()
	b := make([]T, n)
	return &b
}

// put keeps dead buffers for later sweeps, within bufCacheMax. The caller
// holds c.mu.
func (c *bufCache[T]) put(p *[]T) {
	n := len(*p)
	if n == 0 || c.held+n > bufCacheMax {
		return
	}
	if c.free == nil {
		c.free = map[int][]*[]T{}
	}
	c.free[n] = append(c.free[n], p)
	c.held += n
}

// sweepAlloc hands out the buffers of one sweep and remembers them.
type sweepAlloc[T Float] struct {
	c     *bufCache[T]
	owned []*[]T
}

// alloc returns a tensor of the given shape on a cached buffer: its
// contents are arbitrary, and the caller overwrites every element.
func (a *sweepAlloc[T]) alloc(shape ...int) *Tensor[T] {
	p := a.c.get(Size(shape))
	a.owned = append(a.owned, p)
	return &Tensor[T]{Shape: slices.Clone(shape), Data: *p}
}

// finish ends the sweep: the buffers that no tensor of keep shares memory
// with go back to the cache, the others are recorded for Release.
func (a *sweepAlloc[T]) finish(keep []*Tensor[T]) {
	out := map[*T]*[]T{}
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	for _, p := range a.owned {
		if len(*p) == 0 {
			continue
		}
		if sharedWith(*p, keep) {
			out[&(*p)[0]] = p
			continue
		}
		a.c.put(p)
	}
	a.c.out = out
	a.owned = nil
}

// sharedWith reports whether the memory of b overlaps that of a tensor of
// ts (kernels may return views of their operands' data).
func sharedWith[T Float](b []T, ts []*Tensor[T]) bool {
	size := unsafe.Sizeof(b[0])
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	hi := lo + uintptr(len(b))*size
	for _, t := range ts {
		if t == nil || len(t.Data) == 0 {
			continue
		}
		tlo := uintptr(unsafe.Pointer(unsafe.SliceData(t.Data)))
		thi := tlo + uintptr(len(t.Data))*size
		if tlo < hi && lo < thi {
			return true
		}
	}
	return false
}

// Release gives back blocks returned by the engine's last JVP, VJP or
// VJPParams call, once the caller no longer uses them nor any tensor
// sharing their data: later sweeps then reuse their memory. Tensors the
// engine did not allocate for that call are ignored, as are nil ones.
func (e *Engine[T]) Release(ts ...*Tensor[T]) {
	c := &e.bufs
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range ts {
		if t == nil || len(t.Data) == 0 {
			continue
		}
		first := &t.Data[0]
		if p, ok := c.out[first]; ok && len(*p) == len(t.Data) {
			delete(c.out, first)
			c.put(p)
		}
	}
}
