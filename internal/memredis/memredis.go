// Package memredis is the embedded read store of the zero-setup run (DESIGN
// §9, §10): an in-memory Redis-compatible server (miniredis, which runs the
// projectors' Lua commit scripts) listening on a loopback port, with a
// go-redis client connected to it. Nothing is persisted: the read models
// are rebuilt from the event log at every start. Production uses a real
// Redis (REDIS_URL).
//
// Import rule: the standard library, miniredis and the Redis client only;
// no CRM package, flags or environment (cmd/crm wires it).
package memredis

import (
	"context"
	"errors"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Store is a running embedded read store.
type Store struct {
	srv *miniredis.Miniredis
	// Client is connected to the store; Close closes it.
	Client *redis.Client
}

// Start runs an embedded read store on 127.0.0.1 at a free port.
func Start(ctx context.Context) (*Store, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded read store: %w", err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		srv.Close()
		return nil, fmt.Errorf("embedded read store: %w", err)
	}
	return &Store{srv: srv, Client: c}, nil
}

// Addr is the store's host:port (for more clients).
func (s *Store) Addr() string { return s.srv.Addr() }

// Close closes the client and stops the server (its data is gone).
func (s *Store) Close() error {
	err := s.Client.Close()
	s.srv.Close()
	if errors.Is(err, redis.ErrClosed) {
		err = nil
	}
	return err
}
