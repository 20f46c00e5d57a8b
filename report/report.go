// Package report draws what an adaptation did, as PNG figures for a person
// to look at (onnx-adapt --plot):
//
//   - Curve1D: for a model with one input feature, the target points, the
//     base network and the adapted mean with its 95% band over a grid;
//   - Calibration: observed coverage of central predictive intervals
//     against their nominal level (regression), from Coverage;
//   - Reliability: accuracy against confidence per bin (classification),
//     from ReliabilityBins, and ConfidenceHistogram beside it;
//   - PredictedVsTrue: predictions against targets (regression).
//
// Each returns a *plot.Plot (gonum.org/v1/plot); WritePNG lays one or more
// side by side and writes them atomically as one PNG of a given size.
package report

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"gonum.org/v1/plot"
	pdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
)

// DPI is the resolution WritePNG draws at: text and lines are sized in
// points, so a figure of W×H pixels is W/DPI × H/DPI inches.
const DPI = 120

// Colours of the two predictors, the same in every figure.
var (
	BaseColor    = color.RGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff} // the base network: grey
	AdaptedColor = color.RGBA{R: 0x1f, G: 0x5f, B: 0xb4, A: 0xff} // the adapted predictor: blue
	BandColor    = color.NRGBA{R: 0x1f, G: 0x5f, B: 0xb4, A: 0x48}
	PointColor   = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // target points: red
	IdealColor   = color.RGBA{A: 0xff}                            // the diagonal: black
)

// WritePNG draws the panels side by side, left to right, into one PNG of
// width×height pixels and writes it to path atomically.
func WritePNG(path string, width, height int, panels ...*plot.Plot) error {
	img, err := Render(width, height, panels...)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		return png.Encode(w, img)
	})
}

// Render draws the panels side by side into a width×height image.
func Render(width, height int, panels ...*plot.Plot) (image.Image, error) {
	if len(panels) == 0 {
		return nil, fmt.Errorf("report: no panels to draw")
	}
	if width < 100 || height < 100 {
		return nil, fmt.Errorf("report: %d×%d pixels is too small for a figure", width, height)
	}
	// UseImage copies the image: draw on the copy, return it.
	c := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, width, height))), vgimg.UseDPI(DPI))
	dc := pdraw.New(c)
	tiles := pdraw.Tiles{Rows: 1, Cols: len(panels), PadX: 12, PadY: 6, PadTop: 6, PadBottom: 6, PadLeft: 6, PadRight: 10}
	cells := plot.Align([][]*plot.Plot{panels}, tiles, dc)
	for i, p := range panels {
		p.Draw(cells[0][i])
	}
	return c.Image(), nil
}
