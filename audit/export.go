package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/crm-es/crm/eventstore"
)

// ExportFilter selects the events of an export. Empty lists and zero times
// select everything.
type ExportFilter struct {
	// StreamPrefixes: the stream name starts with one of them.
	StreamPrefixes []string
	// Types: the event type is one of them.
	Types []string
	// Since (inclusive) and Until (exclusive) bound the record time.
	Since, Until time.Time
	// IncludeSystem exports $-typed events and $-streams too (links,
	// checkpoints, stream metadata); by default they are left out.
	IncludeSystem bool
}

// Match reports whether an event passes the filter.
func (f ExportFilter) Match(r eventstore.Recorded) bool {
	if !f.IncludeSystem && r.IsSystem() {
		return false
	}
	if len(f.StreamPrefixes) > 0 && !slices.ContainsFunc(f.StreamPrefixes, func(p string) bool { return strings.HasPrefix(r.Stream, p) }) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, r.Type) {
		return false
	}
	if !f.Since.IsZero() && r.RecordedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.RecordedAt.Before(f.Until) {
		return false
	}
	return true
}

// ExportProgress is reported after every page of an export.
type ExportProgress struct {
	Scanned  int    // events of $all read
	Exported int    // events written
	Position uint64 // $all position reached
	Head     uint64 // head of $all when the export started
}

// Export writes the events of $all that pass the filter, up to the head at
// the start, as NDJSON: one Event (the audit event shape) per line, in log
// order. It reads page by page (memory stays bounded) and calls progress,
// if not nil, after each page. It returns how many events it wrote.
func Export(ctx context.Context, src eventstore.AllReader, w io.Writer, f ExportFilter, progress func(ExportProgress)) (int, error) {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return 0, fmt.Errorf("the time range is empty: since %s is not before until %s", f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano))
	}
	head, err := src.Head(ctx)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var p ExportProgress
	p.Head = head.Commit
	const pageSize = 1000
	after := eventstore.Checkpoint{}
	for done := head.Commit == 0; !done; {
		page, err := src.ReadAll(ctx, after, pageSize)
		if err != nil {
			return p.Exported, err
		}
		done = len(page) < pageSize
		for _, r := range page {
			if r.Position > head.Commit {
				done = true
				break
			}
			p.Scanned++
			p.Position = r.Position
			after = r.Checkpoint()
			if !f.Match(r) {
				continue
			}
			if err := enc.Encode(FromRecorded(r)); err != nil {
				return p.Exported, err
			}
			p.Exported++
		}
		if progress != nil {
			progress(p)
		}
	}
	return p.Exported, bw.Flush()
}
