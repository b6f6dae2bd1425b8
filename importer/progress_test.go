package importer

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the reporting goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBar(t *testing.T) {
	var out syncBuffer
	bar := NewBar(&out)
	bar.Start("writing events", 200)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				bar.Add(1)
			}
		}()
	}
	wg.Wait()
	time.Sleep(150 * time.Millisecond) // at least one redraw
	bar.Done()
	bar.Done() // idempotent
	s := out.String()
	if !strings.HasPrefix(s, "\r\x1b[2Kwriting events [") || !strings.HasSuffix(s, "/s\n") {
		t.Errorf("bar output %q", s)
	}
	last := s[strings.LastIndex(s, "\r"):]
	if !strings.Contains(last, "[==============================] 100% 200/200") {
		t.Errorf("final bar %q", last)
	}
	if strings.Count(s, "\n") != 1 {
		t.Errorf("the bar must stay on one line until Done: %q", s)
	}
}

func TestLogProgress(t *testing.T) {
	var out syncBuffer
	p := NewLogProgress(slog.New(slog.NewTextHandler(&out, nil)), 20*time.Millisecond)
	p.Start("writing events", 10)
	p.Add(4)
	time.Sleep(60 * time.Millisecond)
	p.Add(6)
	p.Done()
	s := out.String()
	if !strings.Contains(s, `msg="import progress" step="writing events" done=4`) {
		t.Errorf("no periodic line:\n%s", s)
	}
	if !strings.Contains(s, `msg="import step finished" step="writing events" done=10`) || !strings.Contains(s, "percent=100") {
		t.Errorf("no final line:\n%s", s)
	}
	if strings.Contains(s, "\r") {
		t.Errorf("log progress draws: %q", s)
	}
}
