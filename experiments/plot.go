package experiments

import (
	"context"
	"fmt"
	"github.com/onnx-adapt/onnx-adapt/baseline"
	"image/color"
	"math"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colTruth = color.RGBA{0, 0, 0, 255}
	colBase  = color.RGBA{150, 150, 150, 255}
	colOurs  = color.RGBA{31, 119, 180, 255}
	colBand  = color.NRGBA{31, 119, 180, 70}
	colFT    = color.RGBA{214, 39, 40, 255}
	colRBF   = color.RGBA{44, 160, 44, 255}
)

func lineOf(p *plot.Plot, xs, ys []float64, c color.Color, dashed bool, label string) error {
	pts := make(plotter.XYs, len(xs))
	for i := range xs {
		pts[i].X, pts[i].Y = xs[i], ys[i]
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

// plotSineTask draws one sinusoid task on a grid: the truth, the
// adaptation points, the base network, fine-tuning, the RBF GP and ours
// with its 95% predictive band (latent + noise).
func plotSineTask(ctx context.Context, g *autodiff.Graph, t *RegTask, lo, hi float64, grid FineTuneGrid, seed uint64, title, path string) error {
	const m = 300
	xs := make([]float64, m)
	gx := make([][]float64, m)
	for i := range xs {
		xs[i] = lo + (hi-lo)*float64(i)/float64(m-1)
		gx[i] = []float64{xs[i]}
	}
	grid2 := &RegTask{Xtr: t.Xtr, Ytr: t.Ytr, Xte: rows2tensor(gx), Yte: constVar(m, 1, 0)}
	preds := map[string]*RegPrediction{}
	for _, name := range []string{MBase, MFineTune, MRBF, MOurs} {
		pr, err := runRegMethod(ctx, name, g, grid2, grid, seed)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		preds[name] = pr
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "x"
	p.Y.Label.Text = "y"
	col := func(rows [][]float64) []float64 {
		out := make([]float64, len(rows))
		for i, r := range rows {
			out[i] = r[0]
		}
		return out
	}
	mean, vr := col(preds[MOurs].Mean), col(preds[MOurs].Var)
	band := make(plotter.XYs, 0, 2*m)
	for i := range xs {
		band = append(band, plotter.XY{X: xs[i], Y: mean[i] + 1.96*math.Sqrt(vr[i])})
	}
	for i := m - 1; i >= 0; i-- {
		band = append(band, plotter.XY{X: xs[i], Y: mean[i] - 1.96*math.Sqrt(vr[i])})
	}
	poly, err := plotter.NewPolygon(band)
	if err != nil {
		return err
	}
	poly.Color = colBand
	poly.LineStyle.Width = 0
	p.Add(poly)
	p.Legend.Add("ours: 95% band", poly)
	truth := make([]float64, m)
	for i, x := range xs {
		truth[i] = t.F([]float64{x})
	}
	if err := lineOf(p, xs, truth, colTruth, true, "truth"); err != nil {
		return err
	}
	if err := lineOf(p, xs, col(preds[MBase].Mean), colBase, false, "base network"); err != nil {
		return err
	}
	if err := lineOf(p, xs, col(preds[MFineTune].Mean), colFT, false, "fine-tune"); err != nil {
		return err
	}
	if err := lineOf(p, xs, col(preds[MRBF].Mean), colRBF, false, "RBF GP"); err != nil {
		return err
	}
	if err := lineOf(p, xs, mean, colOurs, false, "ours (mean)"); err != nil {
		return err
	}
	pts := make(plotter.XYs, len(t.Ytr))
	for i, r := range baseline.Rows(t.Xtr) {
		pts[i].X, pts[i].Y = r[0], t.Ytr[i][0]
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(3)
	p.Add(sc)
	p.Legend.Add("adaptation points", sc)
	p.Legend.Top = true
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}

// grid2D evaluates values on a square grid for a heat map.
type grid2D struct {
	n int
	z []float64
}

func (g grid2D) Dims() (int, int)   { return g.n, g.n }
func (g grid2D) Z(c, r int) float64 { return g.z[r*g.n+c] }
func (g grid2D) X(c int) float64    { return -1 + 2*float64(c)/float64(g.n-1) }
func (g grid2D) Y(r int) float64    { return -1 + 2*float64(r)/float64(g.n-1) }

// plotSpatial draws four heat maps of one spatial world: the target
// field, the base network, ours (mean) and ours (latent std), with the
// adaptation points.
func plotSpatial(ctx context.Context, g *autodiff.Graph, t *RegTask, path string) error {
	const n = 60
	xs := make([][]float64, 0, n*n)
	for r := range n {
		for c := range n {
			xs = append(xs, []float64{-1 + 2*float64(c)/float64(n-1), -1 + 2*float64(r)/float64(n-1)})
		}
	}
	x := rows2tensor(xs)
	base, err := forwardGraph(g, x)
	if err != nil {
		return err
	}
	p, err := gpadapt.Fit(ctx, g, &gpadapt.Data{X: t.Xtr, Y: t.Ytr}, nil)
	if err != nil {
		return err
	}
	pr, err := p.Predict(x)
	if err != nil {
		return err
	}
	truth, bz, mz, sz := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, r := range xs {
		truth[i], bz[i], mz[i], sz[i] = t.F(r), base[i][0], pr.Mean[i][0], pr.Std[i][0]
		for _, v := range []float64{truth[i], bz[i], mz[i]} {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	pts := make(plotter.XYs, len(t.Ytr))
	for i, r := range baseline.Rows(t.Xtr) {
		pts[i].X, pts[i].Y = r[0], r[1]
	}
	panel := func(title string, z []float64, vmin, vmax float64, dots bool) (*plot.Plot, error) {
		pal := moreland.SmoothBlueRed()
		pal.SetMin(vmin)
		pal.SetMax(vmax)
		hm := plotter.NewHeatMap(grid2D{n: n, z: z}, pal.Palette(255))
		hm.Min, hm.Max = vmin, vmax
		pl := plot.New()
		pl.Title.Text = title
		pl.Add(hm)
		if dots {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Radius = vg.Points(1.5)
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			pl.Add(sc)
		}
		pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = -1, 1, -1, 1
		return pl, nil
	}
	smax := 0.0
	for _, v := range sz {
		smax = math.Max(smax, v)
	}
	var plots [][]*plot.Plot
	row := []*plot.Plot{}
	for _, spec := range []struct {
		title      string
		z          []float64
		vmin, vmax float64
		dots       bool
	}{
		{"target field", truth, lo, hi, false},
		{"base network", bz, lo, hi, false},
		{fmt.Sprintf("ours: mean (n=%d)", len(t.Ytr)), mz, lo, hi, true},
		{"ours: latent std", sz, 0, smax, true},
	} {
		pl, err := panel(spec.title, spec.z, spec.vmin, spec.vmax, spec.dots)
		if err != nil {
			return err
		}
		row = append(row, pl)
	}
	plots = append(plots, row)
	img := vgimg.New(12*vg.Inch, 3.3*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 4, PadX: vg.Millimeter * 3, PadY: vg.Millimeter, PadTop: vg.Points(2), PadBottom: vg.Points(2), PadLeft: vg.Points(2), PadRight: vg.Points(2)}
	canv := plot.Align(plots, tiles, dc)
	for i, pl := range row {
		pl.Draw(canv[0][i])
	}
	return savePNG(img, path)
}

// plotTiming draws fit time against N for both forms.
func plotTiming(rows []TimingRow, width int, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("gpadapt.Fit time, MLP 1-%d-%d-1", width, width)
	p.X.Label.Text = "N (adaptation points)"
	p.Y.Label.Text = "seconds"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{}, plot.LogTicks{}
	var fx, fy, px, py []float64
	for _, r := range rows {
		if r.Width != width {
			continue
		}
		if !math.IsNaN(r.Function) && r.Function > 0 {
			fx, fy = append(fx, float64(r.N)), append(fy, r.Function)
		}
		if !math.IsNaN(r.Parameter) && r.Parameter > 0 {
			px, py = append(px, float64(r.N)), append(py, r.Parameter)
		}
	}
	if len(fx) > 0 {
		if err := lineOf(p, fx, fy, colOurs, false, "function space"); err != nil {
			return err
		}
	}
	if len(px) > 0 {
		if err := lineOf(p, px, py, colFT, false, "parameter space"); err != nil {
			return err
		}
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return p.Save(5*vg.Inch, 3.5*vg.Inch, path)
}
