package autodiff

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// unfoldGeom returns the geometry of a Conv from cz channels to cy over
// images zs (1 to 3 axes) with kernel k, stride s, dilation d and padding
// p at the beginning and pe at the end of each axis.
func unfoldGeom(cz, cy int, zs, k, s, d, p, pe []int) convGeom {
	g := newGeom(1)
	g.cz, g.cy = cz, cy
	for i := range zs {
		ext := (k[i]-1)*d[i] + 1
		g.setAxis(i, len(zs), zs[i], (zs[i]+p[i]+pe[i]-ext)/s[i]+1, k[i], s[i], d[i], p[i])
	}
	g.finish()
	return g
}

// unfoldWays returns the unfolders of g for chunks of nb images: the one
// newUnfolder picks, and those forced onto the index table and onto
// im2col, the reference.
func unfoldWays[T Float](g *convGeom, nb int) map[string]*unfolder[T] {
	return map[string]*unfolder[T]{
		"auto":   newUnfolder[T](g, nb),
		"index":  {g: g, idx: g.colIndex()},
		"im2col": {g: g},
	}
}

// TestUnfoldWays checks every way of unfolding against im2col, bitwise
// (they copy), on random geometries and chunks, the last one short, in
// both precisions (rows of 4 float32 and of 2 or 4 float64 move as
// 16-byte words).
func TestUnfoldWays(t *testing.T) {
	t.Run("float32", testUnfoldWays[float32])
	t.Run("float64", testUnfoldWays[float64])
}

func testUnfoldWays[T Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	pick := func(lo, hi int) int { return lo + rng.IntN(hi-lo+1) }
	for trial := 0; trial < 300; trial++ {
		nsp := pick(1, 3)
		zs, k, s, d, p, pe := make([]int, nsp), make([]int, nsp), make([]int, nsp), make([]int, nsp), make([]int, nsp), make([]int, nsp)
		for i := range zs {
			zs[i], k[i], s[i], d[i] = pick(1, 9), pick(1, 4), pick(1, 3), pick(1, 2)
			p[i], pe[i] = pick(0, 2), pick(0, 2)
			if trial%3 == 0 {
				s[i] = 1
			}
			if ext := (k[i]-1)*d[i] + 1; zs[i]+p[i]+pe[i] < ext {
				zs[i] = ext
			}
		}
		g := unfoldGeom(pick(1, 4), 2, zs, k, s, d, p, pe)
		b, nb := pick(1, 7), pick(1, 4)
		z := make([]T, b*g.cz*g.zsz)
		for i := range z {
			z[i] = T(rng.NormFloat64())
		}
		name := fmt.Sprintf("zs=%v k=%v s=%v d=%v p=%v/%v cz=%d", zs, k, s, d, p, pe, g.cz)
		var want []T
		for _, way := range []string{"im2col", "index", "auto"} {
			u := unfoldWays[T](&g, nb)[way]
			var got []T
			for i0 := 0; i0 < b; i0 += nb {
				n := min(nb, b-i0)
				cols := make([]T, g.cz*g.kprod*n*g.ysz)
				for i := range cols {
					cols[i] = T(i) // garbage that unfold must overwrite
				}
				u.unfold(z, i0, n, cols)
				got = append(got, cols...)
			}
			u.release()
			if want == nil {
				want = got
				continue
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %s unfold differs from im2col", name, way)
			}
		}
	}
}

// BenchmarkUnfold times the ways of unfolding the digits CNN's two convs
// (3×3, padding 1) at batch 256, in chunks as convForward takes them.
func BenchmarkUnfold(b *testing.B) {
	one := []int{1, 1}
	for _, c := range []struct {
		name   string
		cz, cy int
		zs     []int
	}{{"conv1", 1, 8, []int{8, 8}}, {"conv2", 8, 16, []int{4, 4}}} {
		g := unfoldGeom(c.cz, c.cy, c.zs, []int{3, 3}, one, one, one, one)
		nb := g.chunk(256, max(g.cz*g.kprod, g.cy))
		z := make([]float32, 256*g.cz*g.zsz)
		cols := make([]float32, g.cz*g.kprod*nb*g.ysz)
		for way, u := range unfoldWays[float32](&g, nb) {
			b.Run(c.name+"/"+way, func(b *testing.B) {
				for b.Loop() {
					for i0 := 0; i0 < 256; i0 += nb {
						u.unfold(z, i0, min(nb, 256-i0), cols)
					}
				}
			})
		}
	}
}
