package commands

import (
	"context"
	"sync"
)

// streamLocks serialises the commands of this process on one stream: they
// queue instead of racing to the same expected revision and retrying. Across
// processes (several API replicas) optimistic concurrency with the bounded
// retries still decides.
type streamLocks struct {
	mu sync.Mutex
	m  map[string]*streamLock
}

type streamLock struct {
	sem  chan struct{}
	refs int
}

// lock waits for the stream's lock or for ctx to end; the returned func
// releases it.
func (l *streamLocks) lock(ctx context.Context, stream string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*streamLock{}
	}
	e := l.m[stream]
	if e == nil {
		e = &streamLock{sem: make(chan struct{}, 1)}
		l.m[stream] = e
	}
	e.refs++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(l.m, stream)
		}
		l.mu.Unlock()
	}
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
