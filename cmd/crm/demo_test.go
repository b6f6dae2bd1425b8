package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-es/crm/demo"
	"github.com/crm-es/crm/eventstore"
)

// TestDemoCommand runs "crm demo" twice on a small slice: the first run
// records every generated command, the second appends nothing.
func TestDemoCommand(t *testing.T) {
	env := envMap(map[string]string{"CRM_DATA_DIR": t.TempDir()})
	runDemoCmd := func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"demo"}, args...), env, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := runDemoCmd("--customers", "12", "--seed", "3", "--progress", "log")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"demo: imported the Online Retail slice: 12 customers", " 0 already there", "0 already recorded by an earlier run, 0 changed nothing"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, `"msg":"import step finished"`) || !strings.Contains(errOut, `"msg":"demo loaded"`) {
		t.Errorf("no progress on stderr:\n%s", errOut)
	}

	code, out, errOut = runDemoCmd("--customers", "12", "--seed", "3", "--progress", "none")
	if code != exitOK {
		t.Fatalf("second run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, ", 0 events appended,") || !strings.Contains(out, ": 0 recorded,") {
		t.Errorf("second run appended something:\n%s", out)
	}
}

func TestDemoUsageErrors(t *testing.T) {
	env := envMap(map[string]string{"CRM_DATA_DIR": t.TempDir()})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"demo", "--seed", "abc"}, exitUsage, `--seed "abc": want an unsigned integer`},
		{[]string{"demo", "--seed", "-1"}, exitUsage, `--seed "-1"`},
		{[]string{"demo", "--customers", "0"}, exitUsage, "--customers must be at least 1"},
		{[]string{"demo", "--customers", "999"}, exitUsage, "give the full file with --online-retail"},
		{[]string{"demo", "--workers", "0"}, exitUsage, "--workers must be between 1 and 256"},
		{[]string{"demo", "--progress", "fancy"}, exitUsage, `--progress "fancy"`},
		{[]string{"demo", "extra"}, exitUsage, "unexpected arguments: extra"},
		{[]string{"demo", "-h"}, exitOK, "Usage: crm demo"},
		{[]string{"demo", "--online-retail", "does-not-exist.csv.gz"}, exitFailure, "no such file"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, env, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("crm %v: exit %d (want %d), stderr:\n%s\nwant it to contain %q", tc.args, code, tc.code, stderr.String(), tc.want)
		}
	}
}

// TestLoadDemoIfEmpty: crm serve --demo loads the demo into an empty store
// only, and completes a load that was interrupted.
func TestLoadDemoIfEmpty(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	store, err := eventstore.Open(ctx, eventstore.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var stderr bytes.Buffer
	marker := filepath.Join(dataDir, demoMarker)

	// Interrupted: the context ends during the load; the marker stays.
	opts := demo.Options{Seed: 1, Customers: 8}
	cctx, cancel := context.WithCancel(ctx)
	progress := &cancelAfter{n: 40, cancel: cancel}
	opts.Progress = progress
	if err := loadDemoIfEmpty(cctx, store, opts, dataDir, discardLogger(), &stderr); err == nil {
		t.Fatal("interrupted load: no error")
	}
	cancel()
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("after an interrupted load the marker is gone: %v", err)
	}
	partial, err := store.Head(ctx)
	if err != nil || partial.IsZero() {
		t.Fatalf("the interrupted load wrote nothing (head %v, %v)", partial, err)
	}

	// The marker keeps the story's end: the completing start moves the dates
	// the same way, however much later it runs.
	endBy, ok := markerEndBy(marker)
	if !ok || time.Since(endBy) < 0 || time.Since(endBy) > time.Hour {
		t.Fatalf("marker's end-by %v (%v), want the interrupted start's time", endBy, ok)
	}

	// The next start completes it, then the marker is gone.
	if err := loadDemoIfEmpty(ctx, store, demo.Options{Seed: 1, Customers: 8}, dataDir, discardLogger(), &stderr); err != nil {
		t.Fatal(err)
	}
	// The story ends in the week before that time: the newest business time
	// is within 7 days before endBy, none after it.
	var newest time.Time
	for after := (eventstore.Checkpoint{}); ; {
		evs, err := store.ReadAll(ctx, after, 512)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Metadata.OccurredAt.After(newest) {
				newest = e.Metadata.OccurredAt
			}
		}
		if len(evs) < 512 {
			break
		}
		after = evs[len(evs)-1].Checkpoint()
	}
	if d := endBy.Sub(newest); d < 0 || d > 8*24*time.Hour {
		t.Errorf("newest business time %s is %s before the demo's end-by %s, want within a week", newest, d, endBy)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker after a complete load: %v", err)
	}
	head, err := store.Head(ctx)
	if err != nil || head == partial {
		t.Fatalf("completing load appended nothing: head %v → %v (%v)", partial, head, err)
	}
	again, err := demo.Load(ctx, store, demo.Options{Seed: 1, Customers: 8})
	if err != nil || again.Recorded != 0 || again.Import.Appended != 0 {
		t.Fatalf("after completion a load still records %d commands and %d imported events (%v)", again.Recorded, again.Import.Appended, err)
	}

	// Not empty and no marker: nothing is loaded (another seed would add a
	// second story).
	if err := loadDemoIfEmpty(ctx, store, demo.Options{Seed: 2, Customers: 8}, dataDir, discardLogger(), &stderr); err != nil {
		t.Fatal(err)
	}
	if head2, err := store.Head(ctx); err != nil || head2 != head {
		t.Errorf("start on a non-empty store: head %v → %v (%v); want unchanged", head, head2, err)
	}
}

// cancelAfter is a demo progress that cancels the load after n commands.
type cancelAfter struct {
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Start(string, int) {}
func (c *cancelAfter) Done()             {}
func (c *cancelAfter) Add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
}
