package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DamageError reports a damaged data directory: the file, the byte offset
// and what is wrong. Opening refuses to continue rather than drop data.
type DamageError struct {
	File   string
	Offset int64
	Reason string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("event store: damaged data file %s at offset %d: %s; the file was left untouched (restore it from a backup or move it aside to start over)", e.File, e.Offset, e.Reason)
}

// recover opens every chunk in order, verifies its records and rebuilds the
// in-memory index.
func (s *Store) recover() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("event store: read data dir: %w", err)
	}
	var nums []int
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "chunk-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "chunk-"), ".log"))
		if err != nil || chunkName(n) != name {
			return &DamageError{File: filepath.Join(s.dir, name), Reason: "unexpected chunk file name"}
		}
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for i, n := range nums {
		if n != i {
			return &DamageError{File: filepath.Join(s.dir, chunkName(i)), Reason: "chunk file is missing (chunk numbers must be contiguous from 0)"}
		}
	}
	if len(nums) == 0 {
		return s.newChunk(0)
	}
	start := time.Now()
	for i := range nums {
		if err := s.recoverChunk(i, i == len(nums)-1); err != nil {
			return err
		}
	}
	head := uint64(len(s.locs))
	s.visible.Store(head)
	s.log.Info("event store opened", "dir", s.dir, "chunks", len(nums), "events", head, "streams", len(s.streams), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (s *Store) newChunk(n int) error {
	path := filepath.Join(s.dir, chunkName(n))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("event store: create %s: %w", path, err)
	}
	var h [chunkHeaderSize]byte
	copy(h[:], chunkMagic)
	binary.LittleEndian.PutUint32(h[8:], uint32(n))
	if _, err := f.Write(h[:]); err != nil {
		f.Close()
		return fmt.Errorf("event store: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("event store: sync %s: %w", path, err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.mu.Lock()
	s.chunks = append(s.chunks, f)
	s.mu.Unlock()
	s.tailSize = chunkHeaderSize
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("event store: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("event store: sync dir: %w", err)
	}
	return nil
}

func (s *Store) recoverChunk(n int, last bool) error {
	path := filepath.Join(s.dir, chunkName(n))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("event store: open %s: %w", path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("event store: read %s: %w", path, err)
	}
	if len(data) < chunkHeaderSize || string(data[:8]) != chunkMagic {
		f.Close()
		if last && len(data) < chunkHeaderSize && bytes.Equal(data, []byte(chunkMagic)[:min(len(data), 8)]) {
			// A crash while creating the chunk: nothing was ever written to it.
			os.Remove(path)
			if n == 0 {
				return s.newChunk(0)
			}
			return s.reopenTail(n - 1)
		}
		return &DamageError{File: path, Reason: "not a chunk file (bad header)"}
	}
	if got := binary.LittleEndian.Uint32(data[8:]); got != uint32(n) {
		f.Close()
		return &DamageError{File: path, Reason: fmt.Sprintf("header says chunk %d", got)}
	}
	s.chunks = append(s.chunks, f)
	off := int64(chunkHeaderSize)
	for off < int64(len(data)) {
		rest := data[off:]
		torn := func(reason string) error {
			if !last {
				return &DamageError{File: path, Offset: off, Reason: reason}
			}
			return s.moveTornTail(f, path, off, rest, reason)
		}
		if len(rest) < recordHeader {
			if err := torn("incomplete record header at end of log"); err != nil {
				return err
			}
			break
		}
		if crc32.Checksum(rest[0:8], castagnoli) != binary.LittleEndian.Uint32(rest[8:12]) {
			// A crash can leave a partly written header followed by the
			// zeros of a file extension that reached the disk first.
			if last && allZero(rest[recordHeader:]) {
				if err := torn("damaged last record header followed only by zeros"); err != nil {
					return err
				}
				break
			}
			return &DamageError{File: path, Offset: off, Reason: "record header checksum mismatch"}
		}
		plen := int64(binary.LittleEndian.Uint32(rest[0:4]))
		if plen > maxRecordPayload {
			return &DamageError{File: path, Offset: off, Reason: "record length out of range"}
		}
		if int64(len(rest)) < recordHeader+plen {
			if err := torn("incomplete record at end of log"); err != nil {
				return err
			}
			break
		}
		payload := rest[recordHeader : recordHeader+plen]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(rest[4:8]) {
			if allZero(rest[recordHeader+plen:]) {
				if err := torn("last record checksum mismatch"); err != nil {
					return err
				}
				break
			}
			return &DamageError{File: path, Offset: off, Reason: "record checksum mismatch"}
		}
		spans, err := splitPayload(payload)
		if err != nil {
			return &DamageError{File: path, Offset: off, Reason: err.Error()}
		}
		base := off + recordHeader
		for _, sp := range spans {
			e, err := decodeEvent(payload[sp.off : sp.off+sp.n])
			if err != nil {
				return &DamageError{File: path, Offset: base + int64(sp.off), Reason: err.Error()}
			}
			if want := uint64(len(s.locs)) + 1; e.Position != want {
				return &DamageError{File: path, Offset: base + int64(sp.off), Reason: fmt.Sprintf("event position %d, expected %d", e.Position, want)}
			}
			if err := s.indexEvent(&e, loc{chunk: uint32(n), off: uint32(base + int64(sp.off)), n: uint32(sp.n)}); err != nil {
				return &DamageError{File: path, Offset: base + int64(sp.off), Reason: err.Error()}
			}
		}
		off += recordHeader + plen
	}
	if last {
		s.tailSize = off
	}
	return nil
}

// reopenTail makes chunk n the writable tail again after a removed empty chunk.
func (s *Store) reopenTail(n int) error {
	st, err := s.chunks[n].Stat()
	if err != nil {
		return err
	}
	s.tailSize = st.Size()
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// moveTornTail preserves the bytes of an unacknowledged, incomplete last
// write in a side file and truncates the chunk to its last whole record.
func (s *Store) moveTornTail(f *os.File, path string, off int64, tail []byte, reason string) error {
	side := fmt.Sprintf("%s.torn-%d-%d", path, off, time.Now().UnixNano())
	if err := os.WriteFile(side, tail, 0o644); err != nil {
		return fmt.Errorf("event store: preserve torn tail of %s: %w", path, err)
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("event store: truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("event store: sync %s: %w", path, err)
	}
	s.log.Warn("event store: incomplete last write from a crash moved aside; it was never acknowledged",
		"file", path, "offset", off, "bytes", len(tail), "reason", reason, "saved_as", side)
	return nil
}

var errTombstoned = errors.New("event after tombstone")

// indexEvent adds a durable or about-to-be-durable event to the index.
// Callers hold s.mu (or run before the store is shared).
func (s *Store) indexEvent(e *Event, l loc) error {
	st := s.streams[e.Stream]
	if st == nil {
		st = &stream{}
		s.streams[e.Stream] = st
	}
	s.locs = append(s.locs, l)
	if e.Revision == DeletedRevision && e.Type == "$streamDeleted" {
		st.tombPos = e.Position
		return nil
	}
	if st.tombPos != 0 {
		return errTombstoned
	}
	if e.Revision != uint64(len(st.positions)) {
		return fmt.Errorf("stream %q revision %d, expected %d", e.Stream, e.Revision, len(st.positions))
	}
	st.positions = append(st.positions, e.Position)
	st.ids = append(st.ids, e.ID)
	if strings.HasPrefix(e.Stream, "$$") {
		st.metas = append(st.metas, parseMeta(e.Type, e.JSON, e.Data))
	}
	return nil
}
