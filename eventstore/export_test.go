package eventstore

import "time"

// Test hooks (compiled into tests only).

// SetPageSize sets the page size of LoadStream.
func SetPageSize(s *Store, n uint64) { s.pageSize = n }

// SetNow sets the clock used for default business times.
func SetNow(s *Store, now func() time.Time) { s.now = now }
