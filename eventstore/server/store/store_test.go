package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func openTemp(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func proposed(n int) []Proposed {
	out := make([]Proposed, n)
	for i := range out {
		out[i] = Proposed{ID: uuid.New(), Type: "T", JSON: true, Data: []byte(`{"i":1}`), Metadata: []byte{}}
	}
	return out
}

func TestEventEncodingRoundTrip(t *testing.T) {
	cases := []Event{
		{ID: uuid.New(), Stream: "customer-1", Revision: 3, Position: 9, Type: "CustomerRegistered", JSON: true, Created: 123, Data: []byte(`{"a":1}`), Metadata: []byte(`{"m":2}`)},
		{ID: uuid.Nil, Stream: "s", Revision: DeletedRevision, Position: 1 << 50, Type: "$streamDeleted", Data: []byte{}, Metadata: []byte{}},
		{ID: uuid.New(), Stream: "ü", Revision: 0, Position: 1, Type: "x", Created: -5, Data: bytes.Repeat([]byte{0xff}, 300), Metadata: []byte{}},
	}
	for _, want := range cases {
		got, err := decodeEvent(encodeEvent(nil, &want))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// TestGroupCommitSharesFsyncs checks the durability bookkeeping: concurrent
// appends are acknowledged after fsyncs that each cover several of them.
func TestGroupCommitSharesFsyncs(t *testing.T) {
	s := openTemp(t, t.TempDir())
	const writers, each = 32, 20
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			var err error
			for i := 0; i < each && err == nil; i++ {
				_, err = s.Append(context.Background(), "s-"+uuid.NewString(), Expected{Kind: ExpectNoStream}, proposed(1))
			}
			errs <- err
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.EventsSynced != writers*each {
		t.Fatalf("events synced = %d, want %d", st.EventsSynced, writers*each)
	}
	if st.Fsyncs >= st.EventsSynced {
		t.Fatalf("%d fsyncs for %d events: concurrent appends did not share fsyncs", st.Fsyncs, st.EventsSynced)
	}
	if s.Head() != writers*each {
		t.Fatalf("head = %d, want %d", s.Head(), writers*each)
	}
}

func TestOpenRefusesSecondProcessOnSameDir(t *testing.T) {
	dir := t.TempDir()
	openTemp(t, dir)
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("second Open on a locked data dir succeeded")
	}
}

func TestChunkRotationKeepsPositions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{ChunkSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := s.Append(context.Background(), "s", Expected{Kind: ExpectAny}, proposed(3)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	chunks, _ := filepath.Glob(filepath.Join(dir, "chunk-*.log"))
	if len(chunks) < 4 {
		t.Fatalf("%d chunks, want rotation into many", len(chunks))
	}
	s = openTemp(t, dir)
	evs, err := s.ReadRange(1, s.Head())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 300 {
		t.Fatalf("%d events after reopen, want 300", len(evs))
	}
	for i, e := range evs {
		if e.Position != uint64(i+1) || e.Revision != uint64(i) {
			t.Fatalf("event %d: position %d revision %d", i, e.Position, e.Revision)
		}
	}
}

// TestReadRangeInto: reading page after page into one Page gives the
// events ReadRange gives, whatever the page and event sizes (events larger
// than the buffer make it grow in the middle of a page, over chunk
// boundaries too), and an event of a page keeps its bytes until the next
// read into the Page.
func TestReadRangeInto(t *testing.T) {
	s, err := Open(t.TempDir(), Options{ChunkSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var props []Proposed
	for i := 0; i < 400; i++ {
		size := 10 + i%7*50
		if i == 50 || i == 300 {
			size = 3 << 19 // more than a fresh buffer holds
		}
		data := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		props = append(props, Proposed{ID: uuid.New(), Type: "T", Data: data, Metadata: []byte(`{"i":` + string(rune('0'+i%10)) + `}`)})
	}
	for i := 0; i < len(props); i += 40 {
		if _, err := s.Append(context.Background(), "s-"+uuid.NewString(), Expected{Kind: ExpectAny}, props[i:i+40]); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.ReadRange(1, s.Head())
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(props) {
		t.Fatalf("ReadRange: %d events, want %d", len(want), len(props))
	}
	for _, pageSize := range []uint64{1, 7, 256, 1000} {
		var p Page
		var got []Event
		for from := uint64(1); from <= s.Head(); from += pageSize {
			evs, err := s.ReadRangeInto(&p, from, from+pageSize-1)
			if err != nil {
				t.Fatal(err)
			}
			// Copied before the next read, as a caller must.
			for _, e := range evs {
				e.Data, e.Metadata = bytes.Clone(e.Data), bytes.Clone(e.Metadata)
				got = append(got, e)
			}
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(bytes.Equal)); diff != "" {
			t.Fatalf("pages of %d: ReadRangeInto differs from ReadRange (-want +got):\n%s", pageSize, diff)
		}
	}
	if evs, err := (&Store{}).readRange(&Page{}, 5, 3); err != nil || evs != nil {
		t.Fatalf("empty range: %v, %v; want nothing", evs, err)
	}
}

// FuzzDecodeEvent: arbitrary bytes never panic the event decoder, and
// whatever decodes survives an encode/decode round trip unchanged.
func FuzzDecodeEvent(f *testing.F) {
	f.Add(encodeEvent(nil, &Event{ID: uuid.New(), Stream: "s", Type: "t", Data: []byte("{}"), Metadata: []byte{}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEvent(b)
		if err != nil {
			return
		}
		again, err := decodeEvent(encodeEvent(nil, &e))
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if diff := cmp.Diff(e, again); diff != "" {
			t.Fatalf("round trip changed the event (-first +second):\n%s", diff)
		}
	})
}

// FuzzRecoverChunk: whatever follows the valid records of the last chunk,
// Open never panics, never loses the valid records, and either opens or
// reports damage naming the chunk file.
func FuzzRecoverChunk(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add([]byte{1, 2, 3}, false)
	f.Add(bytes.Repeat([]byte{0}, 40), false)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, tail []byte, flipFirst bool) {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := s.Append(context.Background(), "s", Expected{Kind: ExpectAny}, proposed(2)); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		path := filepath.Join(dir, chunkName(0))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if flipFirst && len(tail) > 0 {
			// Damage inside the first record, with valid records after it.
			data[chunkHeaderSize+recordHeader+4] ^= tail[0] | 1
		}
		if err := os.WriteFile(path, append(data, tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err = Open(dir, Options{})
		if err != nil {
			var de *DamageError
			if !errors.As(err, &de) || de.File != path {
				t.Fatalf("open failed without naming the chunk: %v", err)
			}
			if !flipFirst && len(tail) == 0 {
				t.Fatalf("clean log refused: %v", err)
			}
			return
		}
		defer s.Close()
		if flipFirst && len(tail) > 0 {
			t.Fatal("damage inside a record followed by valid records was not detected")
		}
		if s.Head() < 6 {
			t.Fatalf("head %d after reopen: valid records were lost", s.Head())
		}
		if _, err := s.ReadRange(1, s.Head()); err != nil {
			t.Fatal(err)
		}
	})
}
