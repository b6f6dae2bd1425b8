package main

import (
	"runtime/debug"
	"testing"
)

// TestApplyProjectorGC: crm project sets its garbage collector settings
// unless GOGC or GOMEMLIMIT is in the environment (then the runtime's
// reading of them stands).
func TestApplyProjectorGC(t *testing.T) {
	pct, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(pct); debug.SetMemoryLimit(limit) })
	tests := []struct {
		name      string
		env       map[string]string
		wantPct   int
		wantLimit int64
	}{
		{"defaults", nil, projectorGCPercent, projectorMemoryLimit},
		{"GOGC set", map[string]string{"GOGC": "150"}, 150, projectorMemoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, projectorGCPercent, 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What the runtime would have read from the environment.
			debug.SetGCPercent(150)
			debug.SetMemoryLimit(1 << 30)
			gotPct, gotLimit := applyProjectorGC(func(k string) string { return tt.env[k] })
			if gotPct != tt.wantPct || gotLimit != tt.wantLimit {
				t.Fatalf("applyProjectorGC = %d%%, %d bytes; want %d%%, %d bytes", gotPct, gotLimit, tt.wantPct, tt.wantLimit)
			}
			if p := debug.SetGCPercent(-1); p != tt.wantPct {
				t.Errorf("GC percent in force %d, want %d", p, tt.wantPct)
			}
			debug.SetGCPercent(tt.wantPct)
		})
	}
}
