package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Curve is the 1-D picture of an adaptation: one input feature, one output.
type Curve struct {
	Title, XLabel, YLabel string
	// Grid holds the inputs, ascending; Base, Mean, Lower and Upper the base
	// network, the adapted mean and its band at each of them.
	Grid, Base, Mean, Lower, Upper []float64
	// BandLabel names the band in the legend (what it is: predictive or
	// latent, and its level).
	BandLabel string
	// TrainX, TrainY are the target points adapted to; TestX, TestY
	// (optional) held-out points, drawn fainter.
	TrainX, TrainY []float64
	TestX, TestY   []float64
}

// Curve1D draws the target points, the base network, and the adapted mean
// with its band.
func Curve1D(c *Curve) (*plot.Plot, error) {
	n := len(c.Grid)
	if n < 2 || len(c.Base) != n || len(c.Mean) != n || len(c.Lower) != n || len(c.Upper) != n {
		return nil, fmt.Errorf("report: a curve needs at least 2 grid points and base, mean, lower, upper on each (got %d, %d, %d, %d, %d)",
			n, len(c.Base), len(c.Mean), len(c.Lower), len(c.Upper))
	}
	if len(c.TrainX) != len(c.TrainY) || len(c.TestX) != len(c.TestY) {
		return nil, fmt.Errorf("report: points need as many x as y")
	}
	p := newPlot(c.Title, c.XLabel, c.YLabel)
	band := make(plotter.XYs, 0, 2*n)
	for i := range n {
		band = append(band, plotter.XY{X: c.Grid[i], Y: c.Upper[i]})
	}
	for i := n - 1; i >= 0; i-- {
		band = append(band, plotter.XY{X: c.Grid[i], Y: c.Lower[i]})
	}
	poly, err := plotter.NewPolygon(band)
	if err != nil {
		return nil, err
	}
	poly.Color = BandColor
	poly.LineStyle.Width = 0
	p.Add(poly)
	if len(c.TestX) > 0 {
		s, err := plotter.NewScatter(xys(c.TestX, c.TestY))
		if err != nil {
			return nil, err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: color.NRGBA{R: 0x50, G: 0x50, B: 0x50, A: 0x90}, Radius: vg.Points(1.6), Shape: draw.CircleGlyph{}}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("test points (%d)", len(c.TestX)), s)
	}
	base, err := plotter.NewLine(xys(c.Grid, c.Base))
	if err != nil {
		return nil, err
	}
	base.LineStyle = draw.LineStyle{Color: BaseColor, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
	mean, err := plotter.NewLine(xys(c.Grid, c.Mean))
	if err != nil {
		return nil, err
	}
	mean.LineStyle = draw.LineStyle{Color: AdaptedColor, Width: vg.Points(2)}
	train, err := plotter.NewScatter(xys(c.TrainX, c.TrainY))
	if err != nil {
		return nil, err
	}
	train.GlyphStyle = draw.GlyphStyle{Color: PointColor, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	p.Add(base, mean, train)
	p.Legend.Add(fmt.Sprintf("target points (%d)", len(c.TrainX)), train)
	p.Legend.Add("base network", base)
	p.Legend.Add("adapted mean", mean)
	p.Legend.Add(c.BandLabel, poly)
	// Room above the data for the legend.
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, v := range [][]float64{c.Lower, c.Upper, c.Base, c.TrainY, c.TestY} {
		for _, y := range v {
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	if ylo < yhi {
		p.Y.Min, p.Y.Max = ylo-0.03*(yhi-ylo), yhi+0.36*(yhi-ylo)
	}
	p.X.Min, p.X.Max = c.Grid[0], c.Grid[n-1]
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}

// NominalLevels are the levels 0.05, 0.10, ..., 0.95 of the calibration plot.
func NominalLevels() []float64 {
	out := make([]float64, 19)
	for i := range out {
		out[i] = float64(i+1) * 0.05
	}
	return out
}

// Coverage returns, for each nominal level a, the fraction of targets
// inside the central interval mean ± z·std with z = Φ⁻¹((1+a)/2), over every
// row and output; std is the predictive standard deviation.
func Coverage(mean, std, y [][]float64, levels []float64) ([]float64, error) {
	if len(mean) != len(y) || len(std) != len(y) || len(y) == 0 {
		return nil, fmt.Errorf("report: coverage of %d means and %d standard deviations against %d targets", len(mean), len(std), len(y))
	}
	out := make([]float64, len(levels))
	for li, a := range levels {
		if !(a > 0 && a < 1) {
			return nil, fmt.Errorf("report: nominal level %g is not in (0, 1)", a)
		}
		z := distuv.UnitNormal.Quantile((1 + a) / 2)
		in, total := 0, 0
		for i, row := range y {
			if len(mean[i]) != len(row) || len(std[i]) != len(row) {
				return nil, fmt.Errorf("report: row %d has %d targets, %d means and %d standard deviations", i+1, len(row), len(mean[i]), len(std[i]))
			}
			for j, v := range row {
				total++
				if math.Abs(v-mean[i][j]) <= z*std[i][j] {
					in++
				}
			}
		}
		out[li] = float64(in) / float64(total)
	}
	return out, nil
}

// Series is one predictor's curve in a calibration or reliability plot.
type Series struct {
	Label string
	Color color.Color
	X, Y  []float64
}

// Calibration draws observed coverage against nominal level for each
// series (X the levels, Y the observed coverage), with the diagonal of
// perfect calibration.
func Calibration(title string, series ...Series) (*plot.Plot, error) {
	p := newPlot(title, "nominal level of the central interval", "observed coverage")
	if err := diagonalAndSeries(p, series); err != nil {
		return nil, err
	}
	return p, nil
}

func diagonalAndSeries(p *plot.Plot, series []Series) error {
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return err
	}
	diag.LineStyle = draw.LineStyle{Color: IdealColor, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	p.Add(diag)
	p.Legend.Add("ideal", diag)
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("report: series %q has %d x and %d y", s.Label, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys(s.X, s.Y))
		if err != nil {
			return err
		}
		c := s.Color
		if c == nil {
			c = []color.Color{BaseColor, AdaptedColor}[i%2]
		}
		l.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.8)}
		pts.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: []draw.GlyphDrawer{draw.BoxGlyph{}, draw.CircleGlyph{}}[i%2]}
		p.Add(l, pts)
		p.Legend.Add(s.Label, l, pts)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.02
	p.Legend.Top, p.Legend.Left = true, true
	return nil
}

// Bin is one confidence bin of a reliability diagram: the predictions whose
// top probability lies in (Lo, Hi].
type Bin struct {
	Lo, Hi     float64
	Count      int
	Confidence float64 // mean top probability
	Accuracy   float64 // fraction whose top class is the label
}

// ReliabilityBins sorts the predictions into bins equal-width confidence
// bins on (0, 1] (a confidence c goes to bin ⌈c·bins⌉ − 1, as metrics.ECE
// does) and returns each bin's count, mean confidence and accuracy.
func ReliabilityBins(probs [][]float64, labels []int, bins int) ([]Bin, error) {
	if len(probs) != len(labels) || len(probs) == 0 {
		return nil, fmt.Errorf("report: %d predictions for %d labels", len(probs), len(labels))
	}
	if bins < 1 {
		return nil, fmt.Errorf("report: %d bins", bins)
	}
	out := make([]Bin, bins)
	for b := range out {
		out[b].Lo, out[b].Hi = float64(b)/float64(bins), float64(b+1)/float64(bins)
	}
	for i, p := range probs {
		if labels[i] < 0 || labels[i] >= len(p) {
			return nil, fmt.Errorf("report: label %d of row %d is not one of %d classes", labels[i], i+1, len(p))
		}
		k := 0
		for c := range p {
			if p[c] > p[k] {
				k = c
			}
		}
		b := min(max(int(math.Ceil(p[k]*float64(bins)))-1, 0), bins-1)
		out[b].Count++
		out[b].Confidence += p[k]
		if k == labels[i] {
			out[b].Accuracy++
		}
	}
	for b := range out {
		if out[b].Count > 0 {
			out[b].Confidence /= float64(out[b].Count)
			out[b].Accuracy /= float64(out[b].Count)
		}
	}
	return out, nil
}

// ECE is the expected calibration error of the bins: Σ (count/n)·|accuracy − confidence|.
func ECE(bins []Bin) float64 {
	n, e := 0, 0.0
	for _, b := range bins {
		n += b.Count
		e += float64(b.Count) * math.Abs(b.Accuracy-b.Confidence)
	}
	if n == 0 {
		return 0
	}
	return e / float64(n)
}

// BinSeries is one predictor's bins.
type BinSeries struct {
	Label string
	Color color.Color
	Bins  []Bin
}

// Reliability draws, for each series, accuracy against mean confidence in
// each non-empty bin, with the diagonal of perfect calibration.
func Reliability(title string, series ...BinSeries) (*plot.Plot, error) {
	p := newPlot(title, "confidence (top predicted probability)", "accuracy")
	var ss []Series
	for _, s := range series {
		var x, y []float64
		for _, b := range s.Bins {
			if b.Count > 0 {
				x, y = append(x, b.Confidence), append(y, b.Accuracy)
			}
		}
		ss = append(ss, Series{Label: s.Label, Color: s.Color, X: x, Y: y})
	}
	if err := diagonalAndSeries(p, ss); err != nil {
		return nil, err
	}
	return p, nil
}

// ConfidenceHistogram draws, for each series, the fraction of predictions
// in each confidence bin, as bars side by side.
func ConfidenceHistogram(title string, series ...BinSeries) (*plot.Plot, error) {
	p := newPlot(title, "confidence (top predicted probability)", "fraction of test points")
	if len(series) == 0 || len(series[0].Bins) == 0 {
		return nil, fmt.Errorf("report: no bins to draw")
	}
	nb := len(series[0].Bins)
	width := 1 / float64(nb)
	barW := width * 0.8 / float64(len(series))
	ymax := 0.0
	for i, s := range series {
		if len(s.Bins) != nb {
			return nil, fmt.Errorf("report: series %q has %d bins, %q has %d", s.Label, len(s.Bins), series[0].Label, nb)
		}
		total := 0
		for _, b := range s.Bins {
			total += b.Count
		}
		c := s.Color
		if c == nil {
			c = []color.Color{BaseColor, AdaptedColor}[i%2]
		}
		var first *plotter.Polygon
		for _, b := range s.Bins {
			frac := float64(b.Count) / float64(max(total, 1))
			ymax = math.Max(ymax, frac)
			if b.Count == 0 {
				continue
			}
			x0 := b.Lo + width*0.1 + float64(i)*barW
			bar, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: 0}, {X: x0 + barW, Y: 0}, {X: x0 + barW, Y: frac}, {X: x0, Y: frac}})
			if err != nil {
				return nil, err
			}
			bar.Color = c
			bar.LineStyle.Width = 0
			p.Add(bar)
			if first == nil {
				first = bar
			}
		}
		if first != nil {
			p.Legend.Add(s.Label, first)
		}
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, math.Max(ymax*1.3, 0.05)
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}

// Points is one predictor's predictions in PredictedVsTrue, with optional
// intervals Lower..Upper drawn as vertical bars.
type Points struct {
	Label        string
	Color        color.Color
	Pred         []float64
	Lower, Upper []float64
}

// PredictedVsTrue draws predictions against targets, with the diagonal.
func PredictedVsTrue(title, xlabel, ylabel string, y []float64, series ...Points) (*plot.Plot, error) {
	p := newPlot(title, xlabel, ylabel)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range y {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	for i, s := range series {
		if len(s.Pred) != len(y) {
			return nil, fmt.Errorf("report: series %q has %d predictions for %d targets", s.Label, len(s.Pred), len(y))
		}
		c := s.Color
		if c == nil {
			c = []color.Color{BaseColor, AdaptedColor}[i%2]
		}
		if len(s.Lower) == len(y) && len(s.Upper) == len(y) {
			segs := make(plotter.XYs, 0, 3*len(y))
			for j := range y {
				segs = append(segs, plotter.XY{X: y[j], Y: s.Lower[j]}, plotter.XY{X: y[j], Y: s.Upper[j]}, plotter.XY{X: math.NaN(), Y: math.NaN()})
			}
			bars, err := newSegments(segs, withAlpha(c, 0x50))
			if err != nil {
				return nil, err
			}
			p.Add(bars)
		}
		pts, err := plotter.NewScatter(xys(y, s.Pred))
		if err != nil {
			return nil, err
		}
		pts.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(2.2), Shape: []draw.GlyphDrawer{draw.BoxGlyph{}, draw.CircleGlyph{}}[i%2]}
		p.Add(pts)
		p.Legend.Add(s.Label, pts)
		for _, v := range s.Pred {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo < hi {
		diag, err := plotter.NewLine(plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}})
		if err != nil {
			return nil, err
		}
		diag.LineStyle = draw.LineStyle{Color: IdealColor, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
		p.Add(diag)
		p.Legend.Add("y = x", diag)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}

// segments draws disjoint line segments: pairs of points separated by NaN.
type segments struct {
	xys   plotter.XYs
	style draw.LineStyle
}

func newSegments(xys plotter.XYs, c color.Color) (*segments, error) {
	return &segments{xys: xys, style: draw.LineStyle{Color: c, Width: vg.Points(1)}}, nil
}

func (s *segments) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for i := 0; i+1 < len(s.xys); i += 3 {
		a, b := s.xys[i], s.xys[i+1]
		if math.IsNaN(a.Y) || math.IsNaN(b.Y) || math.IsInf(a.Y, 0) || math.IsInf(b.Y, 0) {
			continue
		}
		c.StrokeLines(s.style, c.ClipLinesY([]vg.Point{{X: tx(a.X), Y: ty(a.Y)}, {X: tx(b.X), Y: ty(b.Y)}})...)
	}
}

// DataRange makes the segments part of the axes' range.
func (s *segments) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, v := range s.xys {
		if math.IsNaN(v.X) || math.IsNaN(v.Y) || math.IsInf(v.Y, 0) {
			continue
		}
		xmin, xmax = math.Min(xmin, v.X), math.Max(xmax, v.X)
		ymin, ymax = math.Min(ymin, v.Y), math.Max(ymax, v.Y)
	}
	return
}

func withAlpha(c color.Color, a uint8) color.Color {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	n.A = a
	return n
}

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(12)
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	p.Legend.TextStyle.Font.Size = vg.Points(9.5)
	p.Legend.Padding = vg.Points(2.5)
	p.Legend.ThumbnailWidth = vg.Points(22)
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), vg.Points(-4)
	p.Add(plotter.NewGrid())
	return p
}

func xys(x, y []float64) plotter.XYs {
	out := make(plotter.XYs, len(x))
	for i := range x {
		out[i] = plotter.XY{X: x[i], Y: y[i]}
	}
	return out
}
