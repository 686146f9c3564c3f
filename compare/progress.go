package compare

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows a paper run's state on a terminal: which N, which phase, how far
// along and the phase's ETA. A nil *progress (no Config.Progress) shows nothing.
type progress struct {
	w     io.Writer
	label string
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
}

func newProgress(w io.Writer, label string) *progress {
	if w == nil {
		return nil
	}
	return &progress{w: w, label: label}
}

// phase starts a new bar for a phase of total steps (0: a spinner with elapsed time).
func (p *progress) phase(name string, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
	max := total
	if max == 0 {
		max = -1 // spinner
	}
	p.bar = progressbar.NewOptions(max,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%s %-15s", p.label, name)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
	)
}

// add advances the current phase.
func (p *progress) add(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// done ends the last phase's bar.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
	}
}
