package importer

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress follows a long-running step. Add may be called from many
// goroutines; Start and Done from the one running the step.
type Progress interface {
	// Start begins a step of total units (0 = unknown) named what.
	Start(what string, total int)
	// Add records n more units done.
	Add(n int)
	// Done ends the step.
	Done()
}

// NoProgress discards progress.
type NoProgress struct{}

func (NoProgress) Start(string, int) {}
func (NoProgress) Add(int)           {}
func (NoProgress) Done()             {}

// ticker is the common part of Bar and LogProgress: an atomic counter and a
// goroutine that reports it periodically.
type ticker struct {
	every  time.Duration
	report func(what string, done, total int64, elapsed time.Duration, final bool)

	done  atomic.Int64
	mu    sync.Mutex
	what  string
	total int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

func (t *ticker) Start(what string, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopLocked()
	t.what, t.total, t.start = what, int64(total), time.Now()
	t.done.Store(0)
	t.stop = make(chan struct{})
	t.wg.Add(1)
	go func(stop chan struct{}) {
		defer t.wg.Done()
		tk := time.NewTicker(t.every)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				t.report(what, t.done.Load(), int64(total), time.Since(t.start), false)
			}
		}
	}(t.stop)
}

func (t *ticker) Add(n int) { t.done.Add(int64(n)) }

func (t *ticker) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopLocked() {
		t.report(t.what, t.done.Load(), t.total, time.Since(t.start), true)
	}
}

// stopLocked stops the reporting goroutine; false if none was running.
func (t *ticker) stopLocked() bool {
	if t.stop == nil {
		return false
	}
	close(t.stop)
	t.wg.Wait()
	t.stop = nil
	return true
}

// NewBar returns a Progress drawn as a one-line bar on w, a terminal,
// redrawn ten times a second:
//
//	writing events [=========>          ]  47% 12345/26113  3.1s  3982/s
func NewBar(w io.Writer) Progress {
	t := &ticker{every: 100 * time.Millisecond}
	const width = 30
	t.report = func(what string, done, total int64, elapsed time.Duration, final bool) {
		rate := 0.0
		if s := elapsed.Seconds(); s > 0 {
			rate = float64(done) / s
		}
		var b strings.Builder
		b.WriteString("\r\x1b[2K") // to the line start, erase the line
		b.WriteString(what)
		if total > 0 {
			frac := min(float64(done)/float64(total), 1)
			filled := int(frac * width)
			b.WriteString(" [")
			b.WriteString(strings.Repeat("=", filled))
			if filled < width {
				b.WriteString(">")
				b.WriteString(strings.Repeat(" ", width-filled-1))
			}
			fmt.Fprintf(&b, "] %3.0f%% %d/%d", frac*100, done, total)
		} else {
			fmt.Fprintf(&b, " %d", done)
		}
		fmt.Fprintf(&b, "  %.1fs  %.0f/s", elapsed.Seconds(), rate)
		if final {
			b.WriteString("\n")
		}
		_, _ = io.WriteString(w, b.String())
	}
	return t
}

// NewLogProgress returns a Progress that logs a line every interval (and one
// at the end) instead of drawing a bar: for logs, pipes and containers.
func NewLogProgress(logger *slog.Logger, every time.Duration) Progress {
	if every <= 0 {
		every = 2 * time.Second
	}
	t := &ticker{every: every}
	t.report = func(what string, done, total int64, elapsed time.Duration, final bool) {
		rate := 0.0
		if s := elapsed.Seconds(); s > 0 {
			rate = float64(done) / s
		}
		args := []any{"step", what, "done", done, "elapsed", elapsed.Round(time.Millisecond).String(), "perSecond", int64(rate)}
		if total > 0 {
			args = append(args, "total", total, "percent", int(100*done/total))
		}
		msg := "import progress"
		if final {
			msg = "import step finished"
		}
		logger.Info(msg, args...)
	}
	return t
}
