package projections

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/crm-es/crm/eventstore"
)

// Catch-up reading shared between tracks.
//
// A track that starts behind the head of $all first catches up through the
// Runtime's catchUp: pages of $all read once through the client (ReadAll),
// decoded once, and handed to every track that needs them, instead of one
// filtered subscription and one protobuf/metadata decode per projection.
// Each track commits the pages it handled as one batch every few pages
// (checkpoint at the last page's end, in the same fenced transaction as its
// writes, as for live batches; see catchUpCommitEvents). A track leaves the catch-up when a page reaches the head, and
// follows $all from its committed checkpoint with its own subscription
// (which delivers what arrived since and the caught-up signal): the live
// path, its batching and its latency are unchanged.
//
// Pages are keyed by the checkpoint they start after, and a page after
// position p holds at most catchUpPage - p%catchUpPage events, so pages end
// on multiples of catchUpPage when positions are dense (the embedded
// server): tracks starting from different checkpoints fall onto the same
// pages after their first one. (With sparse positions, as in KurrentDB's
// byte positions, tracks starting from the same checkpoint, as every track
// of a full rebuild does, still share every page.)
//
// Memory is bounded: at most catchUpMaxPages pages are kept; a track that
// needs a page not yet read waits while that many are held for slower
// tracks, unless it is itself the slowest (so someone always progresses).
// A track that has not asked for a page for catchUpStale (a handler
// retrying, a Redis outage) no longer holds the others back; it reads its
// own pages when it resumes.

const (
	catchUpPage     = 1024
	catchUpMaxPages = 4
	catchUpStale    = 3 * time.Second
)

// catchUp shares pages of $all between the tracks catching up.
type catchUp struct {
	read   func(ctx context.Context, after eventstore.Checkpoint, limit int) ([]eventstore.Recorded, error)
	decode func(eventstore.Recorded) (any, error)
	wants  func(eventType string) bool // some projection handles the type

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever a page or a reader moves
	pages   map[eventstore.Checkpoint]*page
	readers map[*pageReader]struct{}
}

// page is up to catchUpPage consecutive events of $all after a checkpoint,
// decoded. Pages are read-only once ready.
type page struct {
	after  eventstore.Checkpoint
	ready  chan struct{} // closed when events/err are set
	events []pageEvent
	end    eventstore.Checkpoint // resume after this: the last event read (after when none)
	head   bool                  // the read reached the head of $all
	err    error
}

// pageEvent is one event of a page with its decoded data (decoded only if
// some projection handles its type).
type pageEvent struct {
	rec   eventstore.Recorded
	value any
	err   error
}

func newCatchUp(read func(context.Context, eventstore.Checkpoint, int) ([]eventstore.Recorded, error),
	decode func(eventstore.Recorded) (any, error), wants func(string) bool) *catchUp {
	return &catchUp{read: read, decode: decode, wants: wants, changed: make(chan struct{}),
		pages: map[eventstore.Checkpoint]*page{}, readers: map[*pageReader]struct{}{}}
}

// pageReader is one track's place in the catch-up.
type pageReader struct {
	c     *catchUp
	pos   eventstore.Checkpoint // the next page starts after this
	asked time.Time             // when it last asked for a page
}

// join registers a reader that continues after from.
func (c *catchUp) join(from eventstore.Checkpoint) *pageReader {
	r := &pageReader{c: c, pos: from, asked: time.Now()}
	c.mu.Lock()
	c.readers[r] = struct{}{}
	c.broadcastLocked()
	c.mu.Unlock()
	return r
}

// leave unregisters the reader (pages only it needed are dropped).
func (r *pageReader) leave() {
	c := r.c
	c.mu.Lock()
	delete(c.readers, r)
	c.evictLocked()
	c.broadcastLocked()
	c.mu.Unlock()
}

func (c *catchUp) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// minPosLocked is the position of the slowest active reader (ok false
// when there is none).
func (c *catchUp) minPosLocked(now time.Time, except *pageReader) (min eventstore.Checkpoint, ok bool) {
	for r := range c.readers {
		if r == except || now.Sub(r.asked) > catchUpStale {
			continue
		}
		if !ok || r.pos.Commit < min.Commit {
			min, ok = r.pos, true
		}
	}
	return min, ok
}

// evictLocked drops the pages no active reader will ask for: those that
// start before the slowest reader's position (a reader asks for the page
// after its position).
func (c *catchUp) evictLocked() {
	min, ok := c.minPosLocked(time.Now(), nil)
	for k, p := range c.pages {
		select {
		case <-p.ready:
		default:
			continue // being read
		}
		if p.err != nil || !ok || p.after.Commit < min.Commit {
			delete(c.pages, k)
		}
	}
}

// next returns the page after the reader's position and moves the reader
// past it. The page is shared: its events must not be modified.
func (r *pageReader) next(ctx context.Context) (*page, error) {
	c := r.c
	for {
		c.mu.Lock()
		now := time.Now()
		r.asked = now
		p, ok := c.pages[r.pos]
		if !ok {
			min, others := c.minPosLocked(now, r)
			if len(c.pages) < catchUpMaxPages || !others || r.pos.Commit <= min.Commit {
				p = c.startLocked(context.WithoutCancel(ctx), r.pos)
				ok = true
			}
		}
		wait := c.changed
		c.mu.Unlock()
		if !ok {
			// Too far ahead of slower readers: wait for them (or for
			// them to go stale).
			t := time.NewTimer(catchUpStale / 4)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-wait:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.ready:
		}
		if p.err != nil {
			c.mu.Lock()
			if c.pages[p.after] == p {
				delete(c.pages, p.after)
			}
			c.mu.Unlock()
			return nil, p.err
		}
		c.mu.Lock()
		r.pos = p.end
		c.evictLocked()
		if !p.head {
			c.prefetchLocked(context.WithoutCancel(ctx), p.end)
		}
		c.broadcastLocked()
		c.mu.Unlock()
		return p, nil
	}
}

// prefetchLocked starts reading the page after pos when there is room, so
// that reading overlaps the handling of the current page.
func (c *catchUp) prefetchLocked(ctx context.Context, pos eventstore.Checkpoint) {
	if _, ok := c.pages[pos]; ok || len(c.pages) >= catchUpMaxPages {
		return
	}
	c.startLocked(ctx, pos)
}

// startLocked starts reading the page after pos. base carries the values
// of the context of the reader that asked, not its cancellation: other
// readers may wait for the page (a read is bounded by readTimeout).
func (c *catchUp) startLocked(base context.Context, pos eventstore.Checkpoint) *page {
	p := &page{after: pos, ready: make(chan struct{})}
	c.pages[pos] = p
	go c.fill(base, p)
	return p
}

// readTimeout bounds one page read (a read that hangs fails the page and
// is retried by the track's round).
const readTimeout = time.Minute

func (c *catchUp) fill(base context.Context, p *page) {
	defer func() {
		c.mu.Lock()
		close(p.ready)
		c.evictLocked() // nobody may want it any more (readers left meanwhile)
		c.broadcastLocked()
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(base, readTimeout)
	defer cancel()
	limit := int(catchUpPage - p.after.Commit%catchUpPage)
	recs, err := c.read(ctx, p.after, limit)
	if err != nil {
		p.err = fmt.Errorf("catch-up read of $all after %s: %w", p.after, err)
		return
	}
	p.head = len(recs) < limit
	p.end = p.after
	if n := len(recs); n > 0 {
		p.end = recs[n-1].Checkpoint()
		if p.end.Commit <= p.after.Commit {
			p.err = fmt.Errorf("catch-up read of $all after %s returned position %d", p.after, p.end.Commit)
			return
		}
	}
	if !p.head {
		// Read the next page while this one is decoded and handled.
		c.mu.Lock()
		c.prefetchLocked(base, p.end)
		c.mu.Unlock()
	}
	p.events = make([]pageEvent, len(recs))
	decode := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rec := recs[i]
			pe := pageEvent{rec: rec}
			if !rec.IsSystem() && c.wants(rec.Type) {
				pe.value, pe.err = c.decode(rec)
			}
			p.events[i] = pe
		}
	}
	// Decoding is the costliest part of a page: spread it over the cores.
	workers := min(runtime.GOMAXPROCS(0), max(1, len(recs)/64))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decode(w*len(recs)/workers, (w+1)*len(recs)/workers)
		}()
	}
	wg.Wait()
}
