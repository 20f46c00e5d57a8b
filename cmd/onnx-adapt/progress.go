package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
)

// progressLog prints the adaptation's log lines on stderr and shows its
// progress: on a terminal, a bar redrawn in place for the phase under way;
// elsewhere (a file, a pipe) only a line as each phase ends. With --quiet
// it prints nothing.
type progressLog struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	tty   bool
	fd    int

	phase       string
	done, total int
	phaseStart  time.Time
	shown       bool      // a bar is on the screen
	drawn       time.Time // when it was last drawn
	stop        chan struct{}
	stopped     sync.WaitGroup
}

// newProgressLog returns the log for stderr; quiet discards everything.
func newProgressLog(stderr io.Writer, quiet bool) *progressLog {
	l := &progressLog{w: stderr, start: time.Now()}
	if quiet {
		l.w = io.Discard
		return l
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		l.tty, l.fd = true, int(f.Fd())
	}
	return l
}

// Logf prints one line, stamped with the seconds since the start.
func (l *progressLog) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clearLocked()
	fmt.Fprintf(l.w, "[%6.1fs] %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
	l.drawLocked()
}

// Progress is the gpadapt.Options.Progress hook: done of total steps of
// phase. done == total ends the phase.
func (l *progressLog) Progress(phase string, done, total int) {
	l.mu.Lock()
	if done >= total {
		l.clearLocked()
		l.phase = ""
		l.mu.Unlock()
		l.Logf("%s done", phase)
		return
	}
	defer l.mu.Unlock()
	if !l.tty {
		return
	}
	if phase != l.phase {
		l.phase, l.phaseStart = phase, time.Now()
		l.drawn = time.Time{}
	}
	l.done, l.total = done, total
	if l.stop == nil {
		// A ticker keeps the elapsed time moving during long steps.
		l.stop = make(chan struct{})
		l.stopped.Add(1)
		go l.tick(l.stop)
	}
	if time.Since(l.drawn) >= 50*time.Millisecond {
		l.clearLocked()
		l.drawLocked()
	}
}

func (l *progressLog) tick(stop chan struct{}) {
	defer l.stopped.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			l.mu.Lock()
			if l.phase != "" {
				l.clearLocked()
				l.drawLocked()
			}
			l.mu.Unlock()
		}
	}
}

// Close stops the ticker and clears the bar.
func (l *progressLog) Close() {
	l.mu.Lock()
	stop := l.stop
	l.stop = nil
	l.clearLocked()
	l.phase = ""
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		l.stopped.Wait()
	}
}

func (l *progressLog) clearLocked() {
	if l.shown {
		io.WriteString(l.w, "\r\x1b[K")
		l.shown = false
	}
}

// drawLocked draws the bar of the phase under way, if any.
func (l *progressLog) drawLocked() {
	if !l.tty || l.phase == "" {
		return
	}
	width := 80
	if w, _, err := term.GetSize(l.fd); err == nil && w > 20 {
		width = w
	}
	io.WriteString(l.w, progressLine(l.phase, l.done, l.total, time.Since(l.start), time.Since(l.phaseStart), width-1))
	l.shown = true
	l.drawn = time.Now()
}

// progressLine renders "[  12.3s] kernel      [█████░░░░░]  52%  13/25"
// in at most width columns; a phase of one step (total ≤ 1) shows a block
// sweeping to and fro instead of a fill.
func progressLine(phase string, done, total int, since, inPhase time.Duration, width int) string {
	head := fmt.Sprintf("[%6.1fs] %-12s ", since.Seconds(), phase)
	var tail string
	if total > 1 {
		tail = fmt.Sprintf(" %3d%%  %d/%d", 100*done/total, done, total)
	} else {
		tail = fmt.Sprintf(" %.1fs", inPhase.Seconds())
	}
	barW := min(40, width-len([]rune(head))-len([]rune(tail))-2)
	if barW < 5 {
		return truncate(head+tail, width)
	}
	cells := make([]rune, barW)
	for i := range cells {
		cells[i] = '░'
	}
	if total > 1 {
		for i := range barW * done / total {
			cells[i] = '█'
		}
	} else {
		const block = 6
		span := max(barW-block, 1)
		pos := int(inPhase/(100*time.Millisecond)) % (2 * span)
		if pos >= span {
			pos = 2*span - pos
		}
		for i := pos; i < min(pos+block, barW); i++ {
			cells[i] = '█'
		}
	}
	return truncate(head+"["+string(cells)+"]"+tail, width)
}

func truncate(s string, width int) string {
	r := []rune(s)
	if len(r) > width {
		return string(r[:width])
	}
	return strings.TrimRight(s, " ")
}

// predictChunk is how many rows predictWithProgress hands Predict at once.
const predictChunk = 512

// predictWithProgress predicts the rows of x in chunks, reporting the rows
// done as the "predicting" phase.
func predictWithProgress(ctx context.Context, p *gpadapt.Predictor, x *autodiff.Tensor[float32], progress func(string, int, int)) (*gpadapt.Prediction, error) {
	n := x.Shape[0]
	row := x.Len() / max(n, 1)
	out := &gpadapt.Prediction{}
	progress("predicting", 0, n)
	for i0 := 0; i0 < n; i0 += predictChunk {
		i1 := min(n, i0+predictChunk)
		chunk := autodiff.FromData(x.Data[i0*row:i1*row], append([]int{i1 - i0}, x.Shape[1:]...)...)
		pr, err := p.PredictContext(ctx, chunk)
		if err != nil {
			return nil, err
		}
		out.Mean = append(out.Mean, pr.Mean...)
		out.Std = append(out.Std, pr.Std...)
		out.Probs = append(out.Probs, pr.Probs...)
		progress("predicting", i1, n)
	}
	return out, nil
}
