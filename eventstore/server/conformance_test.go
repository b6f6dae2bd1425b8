package server_test

// Conformance of the embedded server with the KurrentDB wire behaviour
// (/work/shared/reference/kurrentdb-protocol.md), driven through the
// official Go client over real gRPC.

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/crm-es/crm/eventstore/server"
)

// ---- §4 Append -------------------------------------------------------------

// TestAppendExpectedRevision covers Any / NoStream / StreamExists / exact
// revision on missing and existing streams (§4.2 steps 2, 4, 5, 6) and the
// wrong-expected-version reply (§4.3): code 7 and the client's text built from
// the reply's expected/current fields. A rejected append must write nothing.
func TestAppendExpectedRevision(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})

	cases := []struct {
		name     string
		existing int // events in the stream before the append; 0 = stream absent
		exp      esdb.ExpectedRevision
		wantWEV  string // "" = success
	}{
		{name: "default is any, missing stream", existing: 0, exp: nil},
		{name: "any, missing stream", existing: 0, exp: esdb.Any{}},
		{name: "any, existing stream", existing: 3, exp: esdb.Any{}},
		{name: "no_stream, missing stream", existing: 0, exp: esdb.NoStream{}},
		{name: "no_stream, existing stream", existing: 2, exp: esdb.NoStream{},
			wantWEV: "wrong expected version: expecting 'no_stream' but got '1'"},
		{name: "stream_exists, missing stream", existing: 0, exp: esdb.StreamExists{},
			wantWEV: "wrong expected version: expecting 'stream_exists' but got 'no_stream'"},
		{name: "stream_exists, existing stream", existing: 2, exp: esdb.StreamExists{}},
		{name: "exact revision == current", existing: 3, exp: esdb.Revision(2)},
		{name: "exact revision 0 == current", existing: 1, exp: esdb.Revision(0)},
		{name: "exact revision behind current, new ids", existing: 3, exp: esdb.Revision(0),
			wantWEV: "wrong expected version: expecting '0' but got '2'"},
		{name: "exact revision one behind current, new ids", existing: 3, exp: esdb.Revision(1),
			wantWEV: "wrong expected version: expecting '1' but got '2'"},
		{name: "exact revision ahead of current", existing: 3, exp: esdb.Revision(5),
			wantWEV: "wrong expected version: expecting '5' but got '2'"},
		{name: "exact revision one ahead of current", existing: 2, exp: esdb.Revision(2),
			wantWEV: "wrong expected version: expecting '2' but got '1'"},
		{name: "exact revision on missing stream", existing: 0, exp: esdb.Revision(0),
			wantWEV: "wrong expected version: expecting '0' but got 'no_stream'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := streamName("exp")
			var before []rec
			var lastPos uint64
			if tc.existing > 0 {
				lastPos = mustAppend(t, e.ctx, e.client, stream, esdb.NoStream{}, numberedEvents(tc.existing, "Seed")...).CommitPosition
				before = mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)
			}
			// An unrelated write so that positions are not trivially adjacent.
			decoy := mustAppend(t, e.ctx, e.client, streamName("decoy"), esdb.Any{}, jsonEvent("Decoy", `{}`))
			if decoy.CommitPosition <= lastPos {
				t.Fatalf("decoy position %d not after %d", decoy.CommitPosition, lastPos)
			}

			batch := numberedEvents(2, "Appended")
			res, err := e.client.AppendToStream(e.ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.exp}, batch...)
			if tc.wantWEV != "" {
				requireWEV(t, err, tc.wantWEV, "append "+expString(tc.exp))
				after, rerr := readStream(e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)
				if tc.existing == 0 {
					requireCode(t, rerr, esdb.ErrorCodeResourceNotFound, "read after rejected append")
					return
				}
				if rerr != nil {
					t.Fatalf("read after rejected append: %v", rerr)
				}
				if d := diffRecs(before, recsOf(after)); d != "" {
					t.Fatalf("rejected append changed the stream (-before +after):\n%s", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("append %s: %v", expString(tc.exp), err)
			}
			wantRev := uint64(tc.existing + 1)
			if res.NextExpectedVersion != wantRev {
				t.Errorf("NextExpectedVersion = %d, want %d", res.NextExpectedVersion, wantRev)
			}
			if res.CommitPosition != res.PreparePosition || res.CommitPosition <= decoy.CommitPosition {
				t.Errorf("position commit=%d prepare=%d, want commit == prepare > %d", res.CommitPosition, res.PreparePosition, decoy.CommitPosition)
			}
			got := mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)
			if len(got) != tc.existing+2 {
				t.Fatalf("stream has %d events, want %d: %v", len(got), tc.existing+2, got)
			}
			if d := diffRecs(before, got[:tc.existing]); d != "" {
				t.Errorf("existing events changed (-want +got):\n%s", d)
			}
			for i, ev := range got[tc.existing:] {
				if ev.ID != batch[i].EventID || ev.Rev != uint64(tc.existing+i) || ev.Stream != stream {
					t.Errorf("event %d = %v id %s, want rev %d id %s", i, ev, ev.ID, tc.existing+i, batch[i].EventID)
				}
			}
			if last := got[len(got)-1]; last.Pos != res.CommitPosition {
				t.Errorf("last event position %d != WriteResult.CommitPosition %d", last.Pos, res.CommitPosition)
			}
			requireIncreasing(t, got, "stream read")
		})
	}
}

// TestAppendRecordedEventFields checks what a read returns for appended
// events (§3): ids, types, content types, data, user metadata, created time,
// system metadata keys, consecutive revisions and increasing positions.
func TestAppendRecordedEventFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	stream := streamName("fields")

	evs := []esdb.EventData{
		{EventID: uuid.New(), EventType: "CustomerRegistered", ContentType: esdb.ContentTypeJson,
			Data: []byte(`{"name":"ACME","n":1}`), Metadata: []byte(`{"actor":"u1","$correlationId":"c"}`)},
		{EventID: uuid.New(), EventType: "BinaryThing", ContentType: esdb.ContentTypeBinary,
			Data: []byte{0, 1, 2, 0xff, 0xfe}, Metadata: []byte{9, 8, 7}},
		{EventID: uuid.New(), EventType: "Empty", ContentType: esdb.ContentTypeBinary},
	}
	before := time.Now()
	res := mustAppend(t, e.ctx, e.client, stream, esdb.NoStream{}, evs...)
	after := time.Now()
	if res.NextExpectedVersion != 2 {
		t.Fatalf("NextExpectedVersion = %d, want 2", res.NextExpectedVersion)
	}

	got, err := readStream(e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != len(evs) {
		t.Fatalf("read %d events, want %d", len(got), len(evs))
	}
	type view struct {
		ID          uuid.UUID
		Type        string
		ContentType string
		Stream      string
		Rev         uint64
		Data        []byte
		Meta        []byte
		SysKeys     []string
	}
	var want, have []view
	for i, ev := range evs {
		ct := "application/octet-stream"
		if ev.ContentType == esdb.ContentTypeJson {
			ct = "application/json"
		}
		want = append(want, view{ev.EventID, ev.EventType, ct, stream, uint64(i), ev.Data, ev.Metadata,
			[]string{"content-type", "created", "type"}})
		r := got[i]
		if r.Link != nil {
			t.Errorf("event %d: unexpected link %+v", i, r.Link)
		}
		o := r.Event
		var keys []string
		for k := range o.SystemMetadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		have = append(have, view{o.EventID, o.EventType, o.ContentType, o.StreamID, o.EventNumber, o.Data, o.UserMetadata, keys})
		if o.CreatedDate.Before(before.Add(-time.Second)) || o.CreatedDate.After(after.Add(time.Second)) {
			t.Errorf("event %d: CreatedDate %v not within [%v, %v] (created must be .NET ticks since the Unix epoch)", i, o.CreatedDate, before, after)
		}
		if o.Position.Commit == 0 || o.Position.Commit != o.Position.Prepare {
			t.Errorf("event %d: position %+v, want commit == prepare > 0", i, o.Position)
		}
	}
	if d := cmp.Diff(want, have, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("recorded events (-want +got):\n%s", d)
	}
	requireIncreasing(t, recsOf(got), "batch")
	if p := got[len(got)-1].Event.Position.Commit; p != res.CommitPosition {
		t.Errorf("last event position %d, WriteResult position %d", p, res.CommitPosition)
	}
	// The batch is contiguous in $all (atomic).
	all := fullAll(t, e.ctx, e.client)
	var idx []int
	for i, r := range all {
		if r.Stream == stream {
			idx = append(idx, i)
		}
	}
	if len(idx) != 3 || idx[2]-idx[0] != 2 {
		t.Errorf("batch events at $all indexes %v, want 3 adjacent", idx)
	}
}

// TestAppendIdempotency covers §4.2 steps 3, 4 and 6 and §4.3: re-appending
// the same event IDs. A full match is an idempotent success reporting the
// ORIGINAL revision and position and writes nothing; a partial match is WEV;
// E == current re-appends (duplicates) instead.
func TestAppendIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})

	type outcome int
	const (
		idempotent outcome = iota
		written
		wev
	)
	fresh := uuid.Nil // placeholder for "a new id"
	cases := []struct {
		name    string
		ids     func(a, b []uuid.UUID) []uuid.UUID
		exp     esdb.ExpectedRevision
		want    outcome
		wantRev uint64 // idempotent: original last revision; written: new last revision
		wantWEV string
	}{
		{name: "any: full retry of first batch", ids: func(a, b []uuid.UUID) []uuid.UUID { return a },
			exp: esdb.Any{}, want: idempotent, wantRev: 2},
		{name: "stream_exists: full retry of first batch", ids: func(a, b []uuid.UUID) []uuid.UUID { return a },
			exp: esdb.StreamExists{}, want: idempotent, wantRev: 2},
		{name: "no_stream: full retry of first batch", ids: func(a, b []uuid.UUID) []uuid.UUID { return a },
			exp: esdb.NoStream{}, want: idempotent, wantRev: 2},
		{name: "revision: full retry of second batch", ids: func(a, b []uuid.UUID) []uuid.UUID { return b },
			exp: esdb.Revision(2), want: idempotent, wantRev: 4},
		{name: "revision: retry of a middle event", ids: func(a, b []uuid.UUID) []uuid.UUID { return a[1:2] },
			exp: esdb.Revision(0), want: idempotent, wantRev: 1},
		{name: "any: retry of a single middle event", ids: func(a, b []uuid.UUID) []uuid.UUID { return b[:1] },
			exp: esdb.Any{}, want: idempotent, wantRev: 3},
		{name: "any: retry of the last event", ids: func(a, b []uuid.UUID) []uuid.UUID { return b[1:] },
			exp: esdb.Any{}, want: idempotent, wantRev: 4},
		{name: "any: partial match", ids: func(a, b []uuid.UUID) []uuid.UUID { return []uuid.UUID{a[0], a[1], fresh} },
			exp: esdb.Any{}, want: wev, wantWEV: "wrong expected version: expecting 'any' but got '4'"},
		{name: "stream_exists: partial match", ids: func(a, b []uuid.UUID) []uuid.UUID { return []uuid.UUID{b[0], fresh} },
			exp: esdb.StreamExists{}, want: wev, wantWEV: "wrong expected version: expecting 'stream_exists' but got '4'"},
		{name: "no_stream: partial match", ids: func(a, b []uuid.UUID) []uuid.UUID { return []uuid.UUID{a[0], a[1], fresh} },
			exp: esdb.NoStream{}, want: wev, wantWEV: "wrong expected version: expecting 'no_stream' but got '4'"},
		{name: "revision: later id differs", ids: func(a, b []uuid.UUID) []uuid.UUID { return []uuid.UUID{b[0], fresh} },
			exp: esdb.Revision(2), want: wev, wantWEV: "wrong expected version: expecting '2' but got '4'"},
		{name: "revision: retry runs past the end", ids: func(a, b []uuid.UUID) []uuid.UUID { return []uuid.UUID{b[0], b[1], fresh} },
			exp: esdb.Revision(2), want: wev, wantWEV: "wrong expected version: expecting '2' but got '4'"},
		{name: "revision: first id differs", ids: func(a, b []uuid.UUID) []uuid.UUID { return []uuid.UUID{fresh} },
			exp: esdb.Revision(1), want: wev, wantWEV: "wrong expected version: expecting '1' but got '4'"},
		{name: "no_stream: first id differs", ids: func(a, b []uuid.UUID) []uuid.UUID { return []uuid.UUID{fresh} },
			exp: esdb.NoStream{}, want: wev, wantWEV: "wrong expected version: expecting 'no_stream' but got '4'"},
		{name: "revision == current: re-append of the last event writes a duplicate",
			ids: func(a, b []uuid.UUID) []uuid.UUID { return b[1:] }, exp: esdb.Revision(4), want: written, wantRev: 5},
		{name: "revision == current: re-append of the first batch writes duplicates",
			ids: func(a, b []uuid.UUID) []uuid.UUID { return a }, exp: esdb.Revision(4), want: written, wantRev: 7},
		{name: "any: unknown ids are written", ids: func(a, b []uuid.UUID) []uuid.UUID { return []uuid.UUID{fresh, fresh} },
			exp: esdb.Any{}, want: written, wantRev: 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := streamName("idem")
			a := idsOf(numberedEvents(3, "A"))
			b := idsOf(numberedEvents(2, "B"))
			resA := mustAppend(t, e.ctx, e.client, stream, esdb.NoStream{}, withIDs("A", a...)...)
			resB := mustAppend(t, e.ctx, e.client, stream, esdb.Any{}, withIDs("B", b...)...)
			if resA.NextExpectedVersion != 2 || resB.NextExpectedVersion != 4 {
				t.Fatalf("setup revisions %d, %d, want 2, 4", resA.NextExpectedVersion, resB.NextExpectedVersion)
			}
			before := mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)
			if len(before) != 5 {
				t.Fatalf("setup: %d events", len(before))
			}
			head := fullAll(t, e.ctx, e.client)

			ids := tc.ids(a, b)
			for i := range ids {
				if ids[i] == fresh {
					ids[i] = uuid.New()
				}
			}
			res, err := e.client.AppendToStream(e.ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.exp}, withIDs("Retry", ids...)...)
			after := mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)

			switch tc.want {
			case wev:
				requireWEV(t, err, tc.wantWEV, "re-append")
				if d := diffRecs(before, after); d != "" {
					t.Fatalf("WEV changed the stream (-before +after):\n%s", d)
				}
			case idempotent:
				if err != nil {
					t.Fatalf("idempotent re-append: %v", err)
				}
				orig := before[tc.wantRev]
				got := struct{ Rev, Commit, Prepare uint64 }{res.NextExpectedVersion, res.CommitPosition, res.PreparePosition}
				want := struct{ Rev, Commit, Prepare uint64 }{tc.wantRev, orig.Pos, orig.Pos}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("idempotent result must report the original write (-want +got):\n%s", d)
				}
				if d := diffRecs(before, after); d != "" {
					t.Errorf("idempotent re-append changed the stream (-before +after):\n%s", d)
				}
				if now := fullAll(t, e.ctx, e.client); len(now) != len(head) {
					t.Errorf("idempotent re-append changed $all: %d -> %d events", len(head), len(now))
				}
			case written:
				if err != nil {
					t.Fatalf("re-append with expected == current: %v", err)
				}
				if res.NextExpectedVersion != tc.wantRev {
					t.Errorf("NextExpectedVersion = %d, want %d", res.NextExpectedVersion, tc.wantRev)
				}
				if res.CommitPosition <= head[len(head)-1].Pos {
					t.Errorf("new write position %d not after head %d", res.CommitPosition, head[len(head)-1].Pos)
				}
				if len(after) != 5+len(ids) {
					t.Fatalf("stream has %d events, want %d", len(after), 5+len(ids))
				}
				for i, id := range ids {
					if got := after[5+i]; got.ID != id || got.Rev != uint64(5+i) {
						t.Errorf("new event %d = %v (id %s), want rev %d id %s", i, got, got.ID, 5+i, id)
					}
				}
			}
		})
	}

	t.Run("same ids in another stream are a fresh write", func(t *testing.T) {
		s1, s2 := streamName("idem-a"), streamName("idem-b")
		evs := numberedEvents(3, "X")
		r1 := mustAppend(t, e.ctx, e.client, s1, esdb.Any{}, evs...)
		r2 := mustAppend(t, e.ctx, e.client, s2, esdb.Any{}, evs...)
		if r2.NextExpectedVersion != 2 || r2.CommitPosition <= r1.CommitPosition {
			t.Fatalf("second stream: rev %d pos %d, want rev 2 and pos > %d", r2.NextExpectedVersion, r2.CommitPosition, r1.CommitPosition)
		}
		if got := mustReadStream(t, e.ctx, e.client, s2, esdb.ReadStreamOptions{}, 10); len(got) != 3 {
			t.Fatalf("second stream has %d events, want 3", len(got))
		}
	})

	t.Run("retry after a later append still reports the original position", func(t *testing.T) {
		stream := streamName("idem-late")
		ev := jsonEvent("First", `{}`)
		first := mustAppend(t, e.ctx, e.client, stream, esdb.NoStream{}, ev)
		for i := 0; i < 3; i++ {
			mustAppend(t, e.ctx, e.client, streamName("other"), esdb.Any{}, jsonEvent("Other", `{}`))
			mustAppend(t, e.ctx, e.client, stream, esdb.Any{}, jsonEvent("Next", `{}`))
		}
		retry := mustAppend(t, e.ctx, e.client, stream, esdb.NoStream{}, ev)
		if d := cmp.Diff(first, retry); d != "" {
			t.Errorf("retry result differs from the original (-orig +retry):\n%s", d)
		}
	})
}

// TestAppendZeroEvents covers §4.2 step 7: an append without events runs the
// expected-revision checks and appends nothing.
func TestAppendZeroEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	cases := []struct {
		name     string
		existing int
		exp      esdb.ExpectedRevision
		wantWEV  string
	}{
		{name: "any, missing stream", existing: 0, exp: esdb.Any{}},
		{name: "no_stream, missing stream", existing: 0, exp: esdb.NoStream{}},
		{name: "stream_exists, missing stream", existing: 0, exp: esdb.StreamExists{},
			wantWEV: "wrong expected version: expecting 'stream_exists' but got 'no_stream'"},
		{name: "revision, missing stream", existing: 0, exp: esdb.Revision(0),
			wantWEV: "wrong expected version: expecting '0' but got 'no_stream'"},
		{name: "any, existing stream", existing: 3, exp: esdb.Any{}},
		{name: "stream_exists, existing stream", existing: 3, exp: esdb.StreamExists{}},
		{name: "revision == current", existing: 3, exp: esdb.Revision(2)},
		{name: "revision behind current", existing: 3, exp: esdb.Revision(1),
			wantWEV: "wrong expected version: expecting '1' but got '2'"},
		{name: "revision ahead of current", existing: 3, exp: esdb.Revision(3),
			wantWEV: "wrong expected version: expecting '3' but got '2'"},
		{name: "no_stream, existing stream", existing: 3, exp: esdb.NoStream{},
			wantWEV: "wrong expected version: expecting 'no_stream' but got '2'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := streamName("zero")
			if tc.existing > 0 {
				mustAppend(t, e.ctx, e.client, stream, esdb.NoStream{}, numberedEvents(tc.existing, "Seed")...)
			}
			headBefore := fullAll(t, e.ctx, e.client)
			res, err := e.client.AppendToStream(e.ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.exp})
			if tc.wantWEV != "" {
				requireWEV(t, err, tc.wantWEV, "zero-event append")
			} else {
				if err != nil {
					t.Fatalf("zero-event append: %v", err)
				}
				if tc.existing > 0 && res.NextExpectedVersion != uint64(tc.existing-1) {
					t.Errorf("NextExpectedVersion = %d, want current revision %d", res.NextExpectedVersion, tc.existing-1)
				}
			}
			if headAfter := fullAll(t, e.ctx, e.client); len(headAfter) != len(headBefore) {
				t.Errorf("zero-event append changed $all: %d -> %d events", len(headBefore), len(headAfter))
			}
			_, rerr := readStream(e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)
			if tc.existing == 0 {
				requireCode(t, rerr, esdb.ErrorCodeResourceNotFound, "zero-event append must not create the stream")
			} else if rerr != nil {
				t.Fatalf("read: %v", rerr)
			}
		})
	}
}

// ---- §6 Reads ----------------------------------------------------------

// TestReadStream covers forward/backward stream reads with counts and
// inclusive start revisions (§6.3), and stream-not-found.
func TestReadStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	stream := streamName("read")
	other := streamName("other")
	for i := 0; i < 10; i++ {
		mustAppend(t, e.ctx, e.client, stream, esdb.Any{}, jsonEvent("Numbered", fmt.Sprintf(`{"i":%d}`, i)))
		mustAppend(t, e.ctx, e.client, other, esdb.Any{}, jsonEvent("Other", `{}`))
	}
	all := mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 1000)
	if got := revsOf(all); !cmp.Equal(got, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("full read revisions %v", got)
	}
	requireIncreasing(t, all, "stream")
	pick := func(revs ...uint64) []rec {
		var out []rec
		for _, r := range revs {
			out = append(out, all[r])
		}
		return out
	}
	cases := []struct {
		name  string
		opts  esdb.ReadStreamOptions
		count uint64
		want  []rec
	}{
		{"forwards from start, all", esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Start{}}, 100, all},
		{"default options are forwards from start", esdb.ReadStreamOptions{}, 2, pick(0, 1)},
		{"forwards from start, count 3", esdb.ReadStreamOptions{From: esdb.Start{}}, 3, pick(0, 1, 2)},
		{"forwards from revision is inclusive", esdb.ReadStreamOptions{From: esdb.Revision(4)}, 3, pick(4, 5, 6)},
		{"forwards from last revision", esdb.ReadStreamOptions{From: esdb.Revision(9)}, 3, pick(9)},
		{"forwards count exceeding the rest", esdb.ReadStreamOptions{From: esdb.Revision(7)}, 50, pick(7, 8, 9)},
		{"forwards past the end", esdb.ReadStreamOptions{From: esdb.Revision(50)}, 10, nil},
		{"count 1", esdb.ReadStreamOptions{From: esdb.Revision(5)}, 1, pick(5)},
		{"backwards from end", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 3, pick(9, 8, 7)},
		{"backwards from end, all", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100, reversed(all)},
		{"backwards from revision is inclusive", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(5)}, 3, pick(5, 4, 3)},
		{"backwards from revision 0", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(0)}, 3, pick(0)},
		{"backwards from above the last revision", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(50)}, 2, pick(9, 8)},
		{"backwards from start", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Start{}}, 5, pick(0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustReadStream(t, e.ctx, e.client, stream, tc.opts, tc.count)
			if d := diffRecs(tc.want, got); d != "" {
				t.Errorf("ReadStream(%+v, %d) (-want +got):\n%s", tc.opts, tc.count, d)
			}
		})
	}

	t.Run("stream not found", func(t *testing.T) {
		missing := streamName("missing")
		for _, opts := range []esdb.ReadStreamOptions{
			{Direction: esdb.Forwards, From: esdb.Start{}},
			{Direction: esdb.Backwards, From: esdb.End{}},
			{Direction: esdb.Forwards, From: esdb.Revision(3)},
		} {
			evs, err := readStream(e.ctx, e.client, missing, opts, 10)
			er := requireCode(t, err, esdb.ErrorCodeResourceNotFound, fmt.Sprintf("read missing stream %+v", opts))
			if len(evs) != 0 {
				t.Errorf("got %d events before not-found", len(evs))
			}
			// The client builds this text from ReadResp.stream_not_found.stream_identifier.
			if want := fmt.Sprintf("stream '%s' is not found", missing); er.Err() == nil || er.Err().Error() != want {
				t.Errorf("not-found detail = %v, want %q", er.Err(), want)
			}
		}
	})
}

// TestReadAll covers $all reads (§6.4): global order with strictly increasing
// positions, forward from Position(p) inclusive, backward from Position(p)
// exclusive, Start/End, counts.
func TestReadAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	s1, s2, s3 := streamName("all-a"), streamName("all-b"), streamName("all-c")
	var wantOurs []rec
	for i := 0; i < 4; i++ {
		for _, s := range []string{s1, s2, s3} {
			ev := jsonEvent("E", fmt.Sprintf(`{"i":%d}`, i))
			res := mustAppend(t, e.ctx, e.client, s, esdb.Any{}, ev)
			wantOurs = append(wantOurs, rec{Stream: s, Rev: uint64(i), ID: ev.EventID, Type: "E", Data: string(ev.Data), Pos: res.CommitPosition})
		}
	}
	batch := numberedEvents(4, "Batch")
	res := mustAppend(t, e.ctx, e.client, s1, esdb.Any{}, batch...)
	for i, ev := range batch {
		wantOurs = append(wantOurs, rec{Stream: s1, Rev: uint64(4 + i), ID: ev.EventID, Type: "Batch", Data: string(ev.Data)})
	}
	wantOurs[len(wantOurs)-1].Pos = res.CommitPosition

	all := fullAll(t, e.ctx, e.client)
	requireIncreasing(t, all, "$all")
	ours := filterRecs(all, inStreams(s1, s2, s3))
	// Batch positions (all but the last) are only known from the read.
	for i := len(ours) - 4; i < len(ours)-1 && i >= 0; i++ {
		wantOurs[i].Pos = ours[i].Pos
	}
	if d := diffRecs(wantOurs, ours); d != "" {
		t.Fatalf("$all content (-want +got):\n%s", d)
	}
	n := len(all)
	if n < 16 {
		t.Fatalf("$all has %d events", n)
	}
	k := n - 8 // somewhere in the middle of our events
	cases := []struct {
		name  string
		opts  esdb.ReadAllOptions
		count uint64
		want  []rec
	}{
		{"forwards from start", esdb.ReadAllOptions{From: esdb.Start{}}, 5, all[:5]},
		{"default options are forwards from start", esdb.ReadAllOptions{}, 2, all[:2]},
		{"forwards from position is inclusive", esdb.ReadAllOptions{From: esdb.Position{Commit: all[k].Pos, Prepare: all[k].Pos}}, 3, all[k : k+3]},
		{"forwards from the last position", esdb.ReadAllOptions{From: esdb.Position{Commit: all[n-1].Pos, Prepare: all[n-1].Pos}}, 10, all[n-1:]},
		{"forwards count exceeding the rest", esdb.ReadAllOptions{From: esdb.Position{Commit: all[n-3].Pos, Prepare: all[n-3].Pos}}, 100, all[n-3:]},
		{"forwards from end", esdb.ReadAllOptions{From: esdb.End{}}, 10, nil},
		{"backwards from end", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 4, reversed(all[n-4:])},
		{"backwards from end, all", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1 << 40, reversed(all)},
		{"backwards from position is exclusive", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.Position{Commit: all[k].Pos, Prepare: all[k].Pos}}, 3, reversed(all[k-3 : k])},
		{"backwards from the last position excludes it", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.Position{Commit: all[n-1].Pos, Prepare: all[n-1].Pos}}, 1, all[n-2 : n-1]},
		{"backwards from the first position", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.Position{Commit: all[0].Pos, Prepare: all[0].Pos}}, 10, nil},
		{"backwards from start", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.Start{}}, 10, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustReadAll(t, e.ctx, e.client, tc.opts, tc.count)
			if d := diffRecs(tc.want, got); d != "" {
				t.Errorf("ReadAll(%+v, %d) (-want +got):\n%s", tc.opts, tc.count, d)
			}
		})
	}
}

// ---- §7 Subscriptions ----------------------------------------------------

// TestSubscribeToStream covers stream subscriptions (§7.2–7.5): exclusive
// start, catch-up then CaughtUp then live, no gaps or duplicates, missing
// streams wait for their first event.
func TestSubscribeToStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	cases := []struct {
		name     string
		existing int
		from     esdb.StreamPosition
		want     []uint64 // catch-up revisions
	}{
		{"from start", 5, esdb.Start{}, []uint64{0, 1, 2, 3, 4}},
		{"from revision is exclusive", 5, esdb.Revision(2), []uint64{3, 4}},
		{"from revision 0", 5, esdb.Revision(0), []uint64{1, 2, 3, 4}},
		{"from the last revision", 5, esdb.Revision(4), nil},
		{"from end", 5, esdb.End{}, nil},
		{"default is end", 5, nil, nil},
		{"missing stream from start", 0, esdb.Start{}, nil},
		{"missing stream from end", 0, esdb.End{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := streamName("sub")
			decoy := streamName("decoy")
			for i := 0; i < tc.existing; i++ {
				mustAppend(t, e.ctx, e.client, stream, esdb.Any{}, jsonEvent("Old", fmt.Sprintf(`{"i":%d}`, i)))
				mustAppend(t, e.ctx, e.client, decoy, esdb.Any{}, jsonEvent("Decoy", `{}`))
			}
			var existing []rec
			if tc.existing > 0 {
				existing = mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)
			}
			p := subscribeStream(t, e.ctx, e.client, stream, esdb.SubscribeToStreamOptions{From: tc.from})
			got := p.untilCaughtUp(t, "catch-up")
			var want []subMsg
			for _, r := range tc.want {
				want = append(want, subMsg{Kind: "event", Ev: existing[r]})
			}
			want = append(want, subMsg{Kind: "caughtup"})
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("catch-up messages (-want +got):\n%s", d)
			}

			// Live: one batch of 3 plus unrelated traffic.
			mustAppend(t, e.ctx, e.client, decoy, esdb.Any{}, jsonEvent("Decoy", `{}`))
			mustAppend(t, e.ctx, e.client, stream, esdb.Any{}, numberedEvents(3, "Live")...)
			mustAppend(t, e.ctx, e.client, decoy, esdb.Any{}, jsonEvent("Decoy", `{}`))
			live := p.untilEvents(t, "live", 3)
			stored := mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)
			var wantLive []subMsg
			for _, r := range stored[tc.existing:] {
				wantLive = append(wantLive, subMsg{Kind: "event", Ev: r})
			}
			if d := cmp.Diff(wantLive, live, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("live messages (-want +got):\n%s", d)
			}
			if extra := p.quiet(quietPeriod); len(extra) != 0 {
				t.Fatalf("unexpected extra messages: %v", extra)
			}
		})
	}
}

// TestSubscribeToAll covers unfiltered $all subscriptions: Start, Position(p)
// exclusive, End, catch-up then CaughtUp then live; no checkpoints.
func TestSubscribeToAll(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		from func(all []rec) esdb.AllPosition
		skip func(all []rec) int // how many of the existing events are not delivered
	}{
		{"from start", func([]rec) esdb.AllPosition { return esdb.Start{} }, func([]rec) int { return 0 }},
		{"from position is exclusive",
			func(all []rec) esdb.AllPosition {
				p := all[len(all)-4].Pos
				return esdb.Position{Commit: p, Prepare: p}
			},
			func(all []rec) int { return len(all) - 3 }},
		{"from the last position",
			func(all []rec) esdb.AllPosition {
				p := all[len(all)-1].Pos
				return esdb.Position{Commit: p, Prepare: p}
			},
			func(all []rec) int { return len(all) }},
		{"from end", func([]rec) esdb.AllPosition { return esdb.End{} }, func(all []rec) int { return len(all) }},
		{"default is end", func([]rec) esdb.AllPosition { return nil }, func(all []rec) int { return len(all) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, server.Config{})
			a, b := streamName("sa"), streamName("sb")
			for i := 0; i < 3; i++ {
				mustAppend(t, e.ctx, e.client, a, esdb.Any{}, numberedEvents(2, "A")...)
				mustAppend(t, e.ctx, e.client, b, esdb.Any{}, jsonEvent("B", `{}`))
			}
			all := fullAll(t, e.ctx, e.client)
			p := subscribeAll(t, e.ctx, e.client, esdb.SubscribeToAllOptions{From: tc.from(all)})
			got := p.untilCaughtUp(t, "catch-up")
			var want []subMsg
			for _, r := range all[tc.skip(all):] {
				want = append(want, subMsg{Kind: "event", Ev: r})
			}
			want = append(want, subMsg{Kind: "caughtup"})
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("catch-up messages (-want +got):\n%s", d)
			}
			mustAppend(t, e.ctx, e.client, a, esdb.Any{}, numberedEvents(2, "LiveA")...)
			mustAppend(t, e.ctx, e.client, b, esdb.Any{}, jsonEvent("LiveB", `{}`))
			now := fullAll(t, e.ctx, e.client)
			newOnes := now[len(all):]
			live := p.untilEvents(t, "live", len(newOnes))
			var wantLive []subMsg
			for _, r := range newOnes {
				wantLive = append(wantLive, subMsg{Kind: "event", Ev: r})
			}
			if d := cmp.Diff(wantLive, live, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("live messages (-want +got):\n%s", d)
			}
			if extra := p.quiet(quietPeriod); len(extra) != 0 {
				t.Fatalf("unexpected extra messages (unfiltered subscriptions never checkpoint): %v", extra)
			}
		})
	}
}

// matchesFilter is the §8 filter semantics: regex (unanchored search) if set,
// else any prefix, on the event type or the stream name.
func matchesFilter(f *esdb.SubscriptionFilter, r rec) bool {
	v := r.Type
	if f.Type == esdb.StreamFilterType {
		v = r.Stream
	}
	if f.Regex != "" {
		return regexp.MustCompile(f.Regex).MatchString(v)
	}
	for _, p := range f.Prefixes {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// checkCheckpoints verifies the checkpoint rules that make checkpoints safe
// to resume from: commit == prepare (checked by the pump), never backwards,
// and no event delivered after a checkpoint has a position <= it.
func checkCheckpoints(t *testing.T, msgs []subMsg) {
	t.Helper()
	var last uint64
	seen := false
	for i, m := range msgs {
		switch m.Kind {
		case "checkpoint":
			if seen && m.Pos < last {
				t.Errorf("checkpoint went backwards: %d after %d (message %d)", m.Pos, last, i)
			}
			last, seen = m.Pos, true
		case "event":
			if seen && m.Ev.Pos <= last {
				t.Errorf("event %v delivered after checkpoint %d: a client resuming from the checkpoint would skip it", m.Ev, last)
			}
		}
	}
}

func checkpointsOf(ms []subMsg) []uint64 {
	var out []uint64
	for _, m := range ms {
		if m.Kind == "checkpoint" {
			out = append(out, m.Pos)
		}
	}
	return out
}

// seedFilterData writes a small CRM-like data set with system events
// ($metadata, $streamDeleted, a $> link) into a fresh server.
func seedFilterData(t *testing.T, e *env) {
	t.Helper()
	mustAppend(t, e.ctx, e.client, "customer-a", esdb.NoStream{}, jsonEvent("CustomerRegistered", `{}`), jsonEvent("ContactAdded", `{}`))
	mustAppend(t, e.ctx, e.client, "order-x", esdb.NoStream{}, jsonEvent("OrderPlaced", `{}`), jsonEvent("OrderShipped", `{}`))
	mustAppend(t, e.ctx, e.client, "customer-b", esdb.NoStream{}, jsonEvent("CustomerRegistered", `{}`))
	mustAppend(t, e.ctx, e.client, "product-1", esdb.NoStream{},
		jsonEvent("eventType-194", `{}`), jsonEvent("eventType-1940", `{}`), jsonEvent("eventType-19", `{}`), jsonEvent("eventType-1949", `{}`))
	var meta esdb.StreamMetadata
	meta.AddCustomProperty("owner", "sales")
	if _, err := e.client.SetStreamMetadata(e.ctx, "customer-a", esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	mustAppend(t, e.ctx, e.client, "order-dead", esdb.NoStream{}, jsonEvent("OrderPlaced", `{}`))
	if _, err := e.client.TombstoneStream(e.ctx, "order-dead", esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatalf("TombstoneStream: %v", err)
	}
	mustAppend(t, e.ctx, e.client, "$ce-customer", esdb.Any{},
		esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("0@customer-a")})
}

// TestFilteredSubscribeToAll covers server-side filters (§8): event-type and
// stream-name prefixes (any prefix, prefix semantics), regexes (unanchored),
// ExcludeSystemEventsFilter; catch-up, CaughtUp and live filtering; checkpoint
// safety.
func TestFilteredSubscribeToAll(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		filter    *esdb.SubscriptionFilter
		wantSeed  int // matching events in the seed data (guards against vacuous tests)
		wantTypes []string
	}{
		{"event type prefix", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"Customer"}}, 2, nil},
		{"event type prefixes match any", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"Order", "Contact"}}, 4, nil},
		{"event type prefix is a prefix match", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"eventType-194"}}, 3,
			[]string{"eventType-194", "eventType-1940", "eventType-1949"}},
		{"stream name prefix", &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"customer-"}}, 3, nil},
		{"stream name prefix of metadata streams", &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"$$"}}, 1,
			[]string{"$metadata"}},
		{"stream name regex", &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^order-"}, 4,
			[]string{"OrderPlaced", "OrderShipped", "OrderPlaced", "$streamDeleted"}},
		{"stream name regex alternation", &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^(product|order)-"}, 8, nil},
		{"event type regex is unanchored", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "Register"}, 2, nil},
		{"event type regex anchored at end", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "Shipped$"}, 1, []string{"OrderShipped"}},
		{"exclude system events", esdb.ExcludeSystemEventsFilter(), 10, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, server.Config{})
			seedFilterData(t, e)
			all := fullAll(t, e.ctx, e.client)
			want := filterRecs(all, func(r rec) bool { return matchesFilter(tc.filter, r) })
			if len(want) != tc.wantSeed {
				t.Fatalf("seed data has %d matching events, want %d: %v", len(want), tc.wantSeed, want)
			}
			if tc.wantTypes != nil {
				var types []string
				for _, r := range want {
					types = append(types, r.Type)
				}
				if d := cmp.Diff(tc.wantTypes, types); d != "" {
					t.Fatalf("matching types (-want +got):\n%s", d)
				}
			}

			p := subscribeAll(t, e.ctx, e.client, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: tc.filter})
			catchUp := p.untilCaughtUp(t, "catch-up")
			if d := diffRecs(want, eventsOf(catchUp)); d != "" {
				t.Fatalf("filtered catch-up events (-want +got):\n%s", d)
			}

			// Live: matching and non-matching traffic.
			mustAppend(t, e.ctx, e.client, "customer-c", esdb.NoStream{}, jsonEvent("CustomerRegistered", `{}`))
			mustAppend(t, e.ctx, e.client, "order-y", esdb.NoStream{}, jsonEvent("OrderPlaced", `{}`), jsonEvent("OrderShipped", `{}`))
			mustAppend(t, e.ctx, e.client, "product-2", esdb.NoStream{}, jsonEvent("eventType-1941", `{}`), jsonEvent("eventType-2", `{}`))
			var meta esdb.StreamMetadata
			meta.SetMaxCount(10)
			if _, err := e.client.SetStreamMetadata(e.ctx, "customer-b", esdb.AppendToStreamOptions{}, meta); err != nil {
				t.Fatalf("SetStreamMetadata: %v", err)
			}
			mustAppend(t, e.ctx, e.client, "misc", esdb.NoStream{}, jsonEvent("Other", `{}`))
			now := fullAll(t, e.ctx, e.client)
			wantLive := filterRecs(now[len(all):], func(r rec) bool { return matchesFilter(tc.filter, r) })
			if len(wantLive) == 0 {
				t.Fatalf("live data has no matching event")
			}
			live := p.untilEvents(t, "live", len(wantLive))
			if d := diffRecs(wantLive, eventsOf(live)); d != "" {
				t.Fatalf("filtered live events (-want +got):\n%s", d)
			}
			rest := p.quiet(quietPeriod)
			if evs := eventsOf(rest); len(evs) != 0 {
				t.Fatalf("unexpected extra events: %v", evs)
			}
			checkCheckpoints(t, append(append(catchUp, live...), rest...))
		})
	}
}

// TestFilteredSubscriptionCheckpoints covers the §7.6 checkpoint rules:
// interval = window × multiplier (window 32 for count), catch-up checkpoints
// every interval scanned events plus one at the end of catch-up, live
// checkpoints every interval appended events at that event's position, never
// backwards.
func TestFilteredSubscriptionCheckpoints(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		window     int
		multiplier int
		interval   int
		prefix     string // filter prefix; "Signal" matches two catch-up events
	}{
		{"window 5 x multiplier 2", 5, 2, 10, "Signal"},
		{"window 3 x multiplier 1", 3, 1, 3, "Signal"},
		{"client defaults (window 32, multiplier 1)", 0, 0, 32, "Signal"},
		{"count window means 32", esdb.NoMaxSearchWindow, 1, 32, "Signal"},
		{"count window x multiplier 2", esdb.NoMaxSearchWindow, 2, 64, "Signal"},
		{"nothing matches during catch-up", 5, 2, 10, "Nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, server.Config{})
			// 100 events, two of which match.
			for b := 0; b < 10; b++ {
				evs := numberedEvents(10, "Noise")
				if b == 0 || b == 5 {
					evs[5] = jsonEvent("Signal", fmt.Sprintf(`{"b":%d}`, b))
				}
				mustAppend(t, e.ctx, e.client, fmt.Sprintf("noise-%d", b%3), esdb.Any{}, evs...)
			}
			filter := &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{tc.prefix}}
			all := fullAll(t, e.ctx, e.client)
			head := all[len(all)-1].Pos
			wantSignals := filterRecs(all, func(r rec) bool { return matchesFilter(filter, r) })

			p := subscribeAll(t, e.ctx, e.client, esdb.SubscribeToAllOptions{
				From: esdb.Start{}, Filter: filter, MaxSearchWindow: tc.window, CheckpointInterval: tc.multiplier,
			})
			catchUp := p.untilCaughtUp(t, "catch-up")
			catchUp = append(catchUp, p.quiet(quietPeriod)...)
			if d := diffRecs(wantSignals, eventsOf(catchUp)); d != "" {
				t.Fatalf("catch-up events (-want +got):\n%s", d)
			}
			cps := checkpointsOf(catchUp)
			n := len(all)
			if lo, hi := n/tc.interval, n/tc.interval+2; len(cps) < lo || len(cps) > hi {
				t.Errorf("catch-up over %d events with interval %d sent %d checkpoints %v, want %d..%d", n, tc.interval, len(cps), cps, lo, hi)
			}
			for _, cp := range cps {
				if cp > head {
					t.Errorf("checkpoint %d beyond the head %d", cp, head)
				}
			}
			if len(wantSignals) > 0 && (len(cps) == 0 || cps[len(cps)-1] < wantSignals[len(wantSignals)-1].Pos) {
				t.Errorf("catch-up must end with a checkpoint at or after the last delivered event %d; checkpoints %v",
					wantSignals[len(wantSignals)-1].Pos, cps)
			}
			checkCheckpoints(t, catchUp)

			// Live: L non-matching events (batches of 4), then one Signal.
			L := 2*tc.interval + tc.interval/2
			for sent := 0; sent < L; sent += 4 {
				mustAppend(t, e.ctx, e.client, "live-noise", esdb.Any{}, numberedEvents(min(4, L-sent), "Noise")...)
			}
			mustAppend(t, e.ctx, e.client, "live-signal", esdb.Any{}, jsonEvent(tc.prefix+"Live", `{"live":true}`))
			now := fullAll(t, e.ctx, e.client)
			liveAll := now[len(all):]
			if len(liveAll) != L+1 {
				t.Fatalf("$all grew by %d events, want %d", len(liveAll), L+1)
			}
			live := p.untilEvents(t, "live", 1)
			live = append(live, p.quiet(quietPeriod)...)
			if d := diffRecs(liveAll[L:], eventsOf(live)); d != "" {
				t.Fatalf("live events (-want +got):\n%s", d)
			}
			livePos := map[uint64]bool{}
			for _, r := range liveAll {
				livePos[r.Pos] = true
			}
			liveCps := checkpointsOf(live)
			if lo, hi := L/tc.interval, (L+tc.interval)/tc.interval; len(liveCps) < lo || len(liveCps) > hi {
				t.Errorf("%d live events with interval %d produced %d checkpoints %v, want %d..%d", L+1, tc.interval, len(liveCps), liveCps, lo, hi)
			}
			for _, cp := range liveCps {
				if !livePos[cp] {
					t.Errorf("live checkpoint %d is not the position of a live event", cp)
				}
			}
			checkCheckpoints(t, append(catchUp, live...))
		})
	}
}

// ---- §9 Delete and tombstone ---------------------------------------------

// TestSoftDelete covers soft delete (§9) and recreation (§4.2 step 8).
func TestSoftDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	ctx, c := e.ctx, e.client

	setup := func(t *testing.T) (string, []rec, esdb.Position) {
		t.Helper()
		stream := streamName("soft")
		mustAppend(t, ctx, c, stream, esdb.NoStream{}, numberedEvents(2, "Old")...)
		old := mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{}, 10)
		del, err := c.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)})
		if err != nil {
			t.Fatalf("DeleteStream: %v", err)
		}
		if del.Position.Commit == 0 || del.Position.Commit != del.Position.Prepare || del.Position.Commit <= old[1].Pos {
			t.Fatalf("delete position %+v, want commit == prepare > %d", del.Position, old[1].Pos)
		}
		return stream, old, del.Position
	}

	t.Run("deleted stream reads as not found and keeps its events in $all", func(t *testing.T) {
		stream, old, delPos := setup(t)
		for _, opts := range []esdb.ReadStreamOptions{{}, {Direction: esdb.Backwards, From: esdb.End{}}} {
			_, err := readStream(ctx, c, stream, opts, 10)
			requireCode(t, err, esdb.ErrorCodeResourceNotFound, fmt.Sprintf("read soft-deleted stream %+v", opts))
		}
		meta := mustReadStream(t, ctx, c, "$$"+stream, esdb.ReadStreamOptions{}, 10)
		if len(meta) != 1 || meta[0].Type != "$metadata" || meta[0].Data != `{"$tb":9223372036854775807}` || meta[0].Pos != delPos.Commit {
			t.Errorf("$$%s after delete = %v (data %q), want one $metadata event {\"$tb\":9223372036854775807} at %d", stream, meta, metaData(meta), delPos.Commit)
		}
		all := filterRecs(fullAll(t, ctx, c), inStreams(stream))
		if d := diffRecs(old, all); d != "" {
			t.Errorf("$all must keep the soft-deleted events (-want +got):\n%s", d)
		}
	})

	t.Run("stream_exists append on a soft-deleted stream is StreamDeleted", func(t *testing.T) {
		stream, _, _ := setup(t)
		_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, jsonEvent("New", `{}`))
		requireCode(t, err, esdb.ErrorCodeStreamDeleted, "stream_exists append after soft delete")
	})

	recreate := []struct {
		name string
		exp  esdb.ExpectedRevision
	}{
		{"any", esdb.Any{}},
		{"no_stream", esdb.NoStream{}},
		{"revision == last", esdb.Revision(1)},
	}
	for _, rc := range recreate {
		t.Run("recreate with "+rc.name+" continues the revisions", func(t *testing.T) {
			stream, old, delPos := setup(t)
			evs := numberedEvents(3, "New")
			res := mustAppend(t, ctx, c, stream, rc.exp, evs...)
			if res.NextExpectedVersion != 4 || res.CommitPosition <= delPos.Commit {
				t.Fatalf("recreate: rev %d pos %d, want rev 4 and pos > %d", res.NextExpectedVersion, res.CommitPosition, delPos.Commit)
			}
			got := mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{}, 10)
			if g := revsOf(got); !cmp.Equal(g, []uint64{2, 3, 4}) {
				t.Fatalf("after recreate the stream reads revisions %v, want [2 3 4] (only the new events)", g)
			}
			for i, r := range got {
				if r.ID != evs[i].EventID {
					t.Errorf("event %d id %s, want %s", i, r.ID, evs[i].EventID)
				}
			}
			back := mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10)
			if g := revsOf(back); !cmp.Equal(g, []uint64{4, 3, 2}) {
				t.Errorf("backwards after recreate: %v, want [4 3 2]", g)
			}
			meta, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
			if err != nil {
				t.Fatalf("GetStreamMetadata: %v", err)
			}
			if tb := meta.TruncateBefore(); tb == nil || *tb != 2 {
				t.Errorf("after recreate $tb = %v, want 2", tb)
			}
			all := filterRecs(fullAll(t, ctx, c), inStreams(stream))
			if len(all) != 5 || all[0] != old[0] || all[1] != old[1] {
				t.Errorf("$all for the stream: %v, want old 2 + new 3", all)
			}
			// The stream exists again: stream_exists works.
			mustAppend(t, ctx, c, stream, esdb.StreamExists{}, jsonEvent("More", `{}`))
		})
	}

	t.Run("recreate with a stale revision is WEV", func(t *testing.T) {
		stream, _, _ := setup(t)
		_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, jsonEvent("New", `{}`))
		requireWEV(t, err, "wrong expected version: expecting '0' but got '1'", "stale revision after soft delete")
	})

	t.Run("subscription from start on a soft-deleted stream delivers only new events", func(t *testing.T) {
		stream, _, _ := setup(t)
		p := subscribeStream(t, ctx, c, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		if got := p.untilCaughtUp(t, "catch-up"); len(got) != 1 {
			t.Fatalf("catch-up on soft-deleted stream: %v, want only CaughtUp", got)
		}
		mustAppend(t, ctx, c, stream, esdb.Any{}, jsonEvent("New", `{}`))
		live := eventsOf(p.untilEvents(t, "live", 1))
		if len(live) != 1 || live[0].Rev != 2 {
			t.Fatalf("live after recreate: %v, want revision 2", live)
		}
	})

	t.Run("delete again with any succeeds", func(t *testing.T) {
		stream, _, delPos := setup(t)
		del, err := c.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{})
		if err != nil {
			t.Fatalf("second DeleteStream: %v", err)
		}
		if del.Position.Commit <= delPos.Commit {
			t.Errorf("second delete position %+v, want > %d", del.Position, delPos.Commit)
		}
	})

	t.Run("delete with a wrong expected revision fails", func(t *testing.T) {
		stream := streamName("soft-wev")
		mustAppend(t, ctx, c, stream, esdb.NoStream{}, numberedEvents(2, "Old")...)
		for _, exp := range []esdb.ExpectedRevision{esdb.Revision(5), esdb.Revision(0), esdb.NoStream{}} {
			_, err := c.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{ExpectedRevision: exp})
			// Delete WEV is FailedPrecondition + exception trailer: the Go client reports ErrorCodeUnknown.
			requireCode(t, err, esdb.ErrorCodeUnknown, "delete "+expString(exp))
			if s, ok := grpcStatus(err); !ok || s.Code() != codes.FailedPrecondition {
				t.Errorf("delete %s: status %v, want FailedPrecondition", expString(exp), s)
			}
		}
		if got := mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{}, 10); len(got) != 2 {
			t.Errorf("failed deletes changed the stream: %v", got)
		}
	})

	t.Run("delete of a stream that only has metadata succeeds", func(t *testing.T) {
		stream := streamName("soft-meta")
		var meta esdb.StreamMetadata
		meta.AddCustomProperty("k", "v")
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
			t.Fatalf("SetStreamMetadata: %v", err)
		}
		if _, err := c.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{}); err != nil {
			t.Fatalf("DeleteStream of a metadata-only stream: %v", err)
		}
	})

	t.Run("setting $tb to 2^63-1 by hand is a soft delete", func(t *testing.T) {
		stream := streamName("soft-tb")
		mustAppend(t, ctx, c, stream, esdb.NoStream{}, numberedEvents(2, "Old")...)
		var meta esdb.StreamMetadata
		meta.SetTruncateBefore(tombstoneRevision)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
			t.Fatalf("SetStreamMetadata: %v", err)
		}
		_, err := readStream(ctx, c, stream, esdb.ReadStreamOptions{}, 10)
		requireCode(t, err, esdb.ErrorCodeResourceNotFound, "read after $tb = 2^63-1")
		_, err = c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, jsonEvent("New", `{}`))
		requireCode(t, err, esdb.ErrorCodeStreamDeleted, "stream_exists append after $tb = 2^63-1")
		res := mustAppend(t, ctx, c, stream, esdb.Any{}, jsonEvent("New", `{}`))
		if res.NextExpectedVersion != 2 {
			t.Errorf("recreate: revision %d, want 2", res.NextExpectedVersion)
		}
	})

	t.Run("delete of a never-written stream fails", func(t *testing.T) {
		_, err := c.DeleteStream(ctx, streamName("never"), esdb.DeleteStreamOptions{})
		requireCode(t, err, esdb.ErrorCodeUnknown, "delete missing stream")
	})
}

func metaData(rs []rec) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Data)
	}
	return out
}

// TestTombstone covers hard delete finality (§9): every read, append,
// delete, tombstone and subscription on the stream and its $$ stream is
// StreamDeleted; the tombstone event is visible in $all.
func TestTombstone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	ctx, c := e.ctx, e.client

	stream := streamName("hard")
	first := jsonEvent("Old", `{}`)
	w := mustAppend(t, ctx, c, stream, esdb.NoStream{}, first, jsonEvent("Old", `{}`))
	var meta esdb.StreamMetadata
	meta.SetMaxCount(100)
	if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	ts, err := c.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Revision(1)})
	if err != nil {
		t.Fatalf("TombstoneStream: %v", err)
	}
	if ts.Position.Commit == 0 || ts.Position.Commit != ts.Position.Prepare || ts.Position.Commit <= w.CommitPosition {
		t.Fatalf("tombstone position %+v, want commit == prepare > %d", ts.Position, w.CommitPosition)
	}

	subscribe := func(s string, from esdb.StreamPosition) error {
		sub, err := c.SubscribeToStream(ctx, s, esdb.SubscribeToStreamOptions{From: from})
		if err == nil {
			_ = sub.Close()
		}
		return err
	}
	appendWith := func(s string, exp esdb.ExpectedRevision, evs ...esdb.EventData) func() error {
		return func() error {
			_, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: exp}, evs...)
			return err
		}
	}
	ops := []struct {
		name string
		run  func() error
	}{
		{"read forwards", func() error {
			_, err := readStream(ctx, c, stream, esdb.ReadStreamOptions{}, 10)
			return err
		}},
		{"read backwards", func() error {
			_, err := readStream(ctx, c, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10)
			return err
		}},
		{"read $$ stream", func() error {
			_, err := readStream(ctx, c, "$$"+stream, esdb.ReadStreamOptions{}, 10)
			return err
		}},
		{"get stream metadata", func() error {
			_, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
			return err
		}},
		{"append any", appendWith(stream, esdb.Any{}, jsonEvent("New", `{}`))},
		{"append no_stream", appendWith(stream, esdb.NoStream{}, jsonEvent("New", `{}`))},
		{"append stream_exists", appendWith(stream, esdb.StreamExists{}, jsonEvent("New", `{}`))},
		{"append revision", appendWith(stream, esdb.Revision(1), jsonEvent("New", `{}`))},
		{"retry of an earlier write", appendWith(stream, esdb.NoStream{}, first)},
		{"append no events", appendWith(stream, esdb.Any{})},
		{"append to $$ stream", appendWith("$$"+stream, esdb.Any{}, jsonEvent("$metadata", `{}`))},
		{"set stream metadata", func() error {
			_, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta)
			return err
		}},
		{"soft delete", func() error {
			_, err := c.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{})
			return err
		}},
		{"tombstone again", func() error {
			_, err := c.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{})
			return err
		}},
		{"subscribe from start", func() error { return subscribe(stream, esdb.Start{}) }},
		{"subscribe from end", func() error { return subscribe(stream, esdb.End{}) }},
		{"subscribe to $$ stream", func() error { return subscribe("$$"+stream, esdb.Start{}) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			er := requireCode(t, op.run(), esdb.ErrorCodeStreamDeleted, op.name)
			if er.Err() == nil || !strings.Contains(er.Err().Error(), stream) {
				t.Errorf("StreamDeleted detail %v does not name the stream (stream-name trailer)", er.Err())
			}
		})
	}

	t.Run("tombstone event in $all", func(t *testing.T) {
		all := filterRecs(fullAll(t, ctx, c), inStreams(stream))
		if len(all) != 3 {
			t.Fatalf("$all has %d events of the stream, want 3: %v", len(all), all)
		}
		got := all[2]
		want := rec{Stream: stream, Rev: tombstoneRevision, ID: got.ID, Type: "$streamDeleted", Data: "", Pos: ts.Position.Commit}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("tombstone record (-want +got):\n%s", d)
		}
	})

	t.Run("tombstone of a never-written stream blocks creation", func(t *testing.T) {
		s := streamName("hard-never")
		ts, err := c.TombstoneStream(ctx, s, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.NoStream{}})
		if err != nil {
			t.Fatalf("TombstoneStream(never written): %v", err)
		}
		if ts.Position.Commit == 0 || ts.Position.Commit != ts.Position.Prepare {
			t.Fatalf("tombstone position %+v", ts.Position)
		}
		_, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, jsonEvent("New", `{}`))
		requireCode(t, err, esdb.ErrorCodeStreamDeleted, "append after tombstone of a never-written stream")
		_, err = readStream(ctx, c, s, esdb.ReadStreamOptions{}, 1)
		requireCode(t, err, esdb.ErrorCodeStreamDeleted, "read after tombstone of a never-written stream")
	})

	t.Run("tombstone after soft delete", func(t *testing.T) {
		s := streamName("hard-soft")
		mustAppend(t, ctx, c, s, esdb.NoStream{}, jsonEvent("Old", `{}`))
		if _, err := c.DeleteStream(ctx, s, esdb.DeleteStreamOptions{}); err != nil {
			t.Fatalf("DeleteStream: %v", err)
		}
		if _, err := c.TombstoneStream(ctx, s, esdb.TombstoneStreamOptions{}); err != nil {
			t.Fatalf("TombstoneStream after soft delete: %v", err)
		}
		_, err := readStream(ctx, c, s, esdb.ReadStreamOptions{}, 1)
		requireCode(t, err, esdb.ErrorCodeStreamDeleted, "read")
	})

	t.Run("tombstone with a wrong expected revision fails and keeps the stream", func(t *testing.T) {
		s := streamName("hard-wev")
		mustAppend(t, ctx, c, s, esdb.NoStream{}, numberedEvents(2, "Old")...)
		for _, exp := range []esdb.ExpectedRevision{esdb.Revision(0), esdb.NoStream{}, esdb.Revision(7)} {
			_, err := c.TombstoneStream(ctx, s, esdb.TombstoneStreamOptions{ExpectedRevision: exp})
			requireCode(t, err, esdb.ErrorCodeUnknown, "tombstone "+expString(exp))
			if st, ok := grpcStatus(err); !ok || st.Code() != codes.FailedPrecondition {
				t.Errorf("tombstone %s: status %v, want FailedPrecondition", expString(exp), st)
			}
		}
		if got := mustReadStream(t, ctx, c, s, esdb.ReadStreamOptions{}, 10); len(got) != 2 {
			t.Errorf("stream after failed tombstones: %v", got)
		}
	})

	t.Run("live stream subscription gets the tombstone then drops", func(t *testing.T) {
		s := streamName("hard-live")
		mustAppend(t, ctx, c, s, esdb.NoStream{}, jsonEvent("Old", `{}`))
		p := subscribeStream(t, ctx, c, s, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		p.untilCaughtUp(t, "catch-up")
		ts, err := c.TombstoneStream(ctx, s, esdb.TombstoneStreamOptions{})
		if err != nil {
			t.Fatalf("TombstoneStream: %v", err)
		}
		m := p.next(t, waitTimeout)
		if m.Kind != "event" || m.Ev.Type != "$streamDeleted" || m.Ev.Rev != tombstoneRevision || m.Ev.Pos != ts.Position.Commit {
			t.Fatalf("first message after tombstone = %v, want the $streamDeleted event at %d", m, ts.Position.Commit)
		}
		m = p.next(t, waitTimeout)
		if m.Kind != "dropped" {
			t.Fatalf("after the tombstone event got %v, want the subscription dropped", m)
		}
		if st, ok := grpcStatus(m.Err); !ok || st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), s) {
			t.Errorf("drop error %v, want FailedPrecondition naming the stream", m.Err)
		}
	})
}

// ---- §10 Metadata ----------------------------------------------------------

// TestStreamMetadata covers SetStreamMetadata/GetStreamMetadata round trips
// ($acl, $maxAge, $maxCount, $cacheControl, custom keys), verbatim storage,
// the implicit $maxCount 1 of $$ streams, expected revisions on $$ streams,
// and metadata before the stream exists.
func TestStreamMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	ctx, c := e.ctx, e.client

	t.Run("round trip", func(t *testing.T) {
		stream := streamName("meta")
		var acl esdb.Acl
		acl.AddReadRoles("admin")
		acl.AddWriteRoles("sales") // one role each: the client cannot parse role lists back ([]any)
		var meta esdb.StreamMetadata
		meta.SetAcl(acl)
		meta.SetMaxAge(2 * time.Hour)
		meta.SetMaxCount(500)
		meta.SetCacheControl(30 * time.Second)
		meta.AddCustomProperty("owner", "crm")
		meta.AddCustomProperty("answer", 42)
		meta.AddCustomProperty("nested", map[string]any{"a": []any{"x", 1.5}})
		res, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, meta)
		if err != nil {
			t.Fatalf("SetStreamMetadata: %v", err)
		}
		if res.NextExpectedVersion != 0 || res.CommitPosition == 0 {
			t.Errorf("SetStreamMetadata result %+v, want revision 0 and a position", res)
		}
		got, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
		if err != nil {
			t.Fatalf("GetStreamMetadata: %v", err)
		}
		wantJSON, _ := meta.ToJson()
		gotJSON, _ := got.ToJson()
		if !bytes.Equal(wantJSON, gotJSON) {
			t.Errorf("metadata round trip:\nwant %s\ngot  %s", wantJSON, gotJSON)
		}
		if ma := got.MaxAge(); ma == nil || *ma != 2*time.Hour {
			t.Errorf("MaxAge = %v", ma)
		}
		if a := got.StreamAcl(); a == nil || !cmp.Equal(a.ReadRoles(), []string{"admin"}) {
			t.Errorf("acl = %+v", got.Acl())
		}
		// Stored verbatim as a JSON $metadata event in $$stream.
		raw, err := readStream(ctx, c, "$$"+stream, esdb.ReadStreamOptions{}, 10)
		if err != nil || len(raw) != 1 {
			t.Fatalf("read $$%s: %d events, %v", stream, len(raw), err)
		}
		ev := raw[0].Event
		if ev.EventType != "$metadata" || ev.ContentType != "application/json" || ev.StreamID != "$$"+stream || !bytes.Equal(ev.Data, wantJSON) {
			t.Errorf("raw metadata event: type %q ct %q stream %q data %s; want $metadata json %s", ev.EventType, ev.ContentType, ev.StreamID, ev.Data, wantJSON)
		}
	})

	t.Run("string acl round trip", func(t *testing.T) {
		stream := streamName("meta-acl")
		var meta esdb.StreamMetadata
		meta.SetAcl(esdb.UserStreamAcl)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
			t.Fatalf("SetStreamMetadata: %v", err)
		}
		got, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
		if err != nil {
			t.Fatalf("GetStreamMetadata: %v", err)
		}
		if !got.IsUserStreamAcl() {
			t.Errorf("acl = %v, want %s", got.Acl(), esdb.UserStreamAcl)
		}
	})

	t.Run("$$ streams keep only the newest metadata (implicit maxCount 1)", func(t *testing.T) {
		stream := streamName("meta-v")
		for i := 0; i < 3; i++ {
			var meta esdb.StreamMetadata
			meta.AddCustomProperty("version", i)
			res, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expectedFor(i)}, meta)
			if err != nil {
				t.Fatalf("SetStreamMetadata #%d: %v", i, err)
			}
			if res.NextExpectedVersion != uint64(i) {
				t.Fatalf("SetStreamMetadata #%d revision %d", i, res.NextExpectedVersion)
			}
		}
		got, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
		if err != nil {
			t.Fatalf("GetStreamMetadata: %v", err)
		}
		if v := got.CustomProperty("version"); v != float64(2) {
			t.Errorf("GetStreamMetadata returned version %v, want the newest (2)", v)
		}
		for _, opts := range []esdb.ReadStreamOptions{{}, {Direction: esdb.Backwards, From: esdb.End{}}} {
			raw := mustReadStream(t, ctx, c, "$$"+stream, opts, 10)
			if len(raw) != 1 || raw[0].Rev != 2 {
				t.Errorf("read $$ stream %+v: %v, want only revision 2", opts, raw)
			}
		}
		p := subscribeStream(t, ctx, c, "$$"+stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		if got := eventsOf(p.untilCaughtUp(t, "$$ catch-up")); len(got) != 1 || got[0].Rev != 2 {
			t.Errorf("subscription catch-up of the $$ stream: %v, want only revision 2", got)
		}
		var meta esdb.StreamMetadata
		_, err = c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, meta)
		requireWEV(t, err, "wrong expected version: expecting '0' but got '2'", "stale metadata write")
		// $all still holds every metadata event.
		if n := len(filterRecs(fullAll(t, ctx, c), inStreams("$$"+stream))); n != 3 {
			t.Errorf("$all has %d metadata events, want 3", n)
		}
	})

	t.Run("no metadata", func(t *testing.T) {
		stream := streamName("meta-none")
		mustAppend(t, ctx, c, stream, esdb.NoStream{}, jsonEvent("E", `{}`))
		_, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
		requireCode(t, err, esdb.ErrorCodeResourceNotFound, "GetStreamMetadata without metadata")
		_, err = readStream(ctx, c, "$$"+stream, esdb.ReadStreamOptions{}, 1)
		requireCode(t, err, esdb.ErrorCodeResourceNotFound, "read $$ stream without metadata")
	})

	t.Run("metadata makes a stream exist for stream_exists", func(t *testing.T) {
		stream := streamName("meta-first")
		var meta esdb.StreamMetadata
		meta.SetMaxCount(10)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
			t.Fatalf("SetStreamMetadata: %v", err)
		}
		res := mustAppend(t, ctx, c, stream, esdb.StreamExists{}, jsonEvent("E", `{}`))
		if res.NextExpectedVersion != 0 {
			t.Errorf("first event revision %d, want 0", res.NextExpectedVersion)
		}
	})
}

func expectedFor(i int) esdb.ExpectedRevision {
	if i == 0 {
		return esdb.NoStream{}
	}
	return esdb.Revision(uint64(i - 1))
}

// TestStreamMetadataTruncation covers $maxCount and $tb on stream reads and
// stream-subscription catch-up, and that $all ignores them (§6.3, §10).
func TestStreamMetadataTruncation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	ctx, c := e.ctx, e.client
	u := func(v uint64) *uint64 { return &v }
	rng := func(from, to uint64) []uint64 {
		var out []uint64
		for r := from; r <= to; r++ {
			out = append(out, r)
		}
		return out
	}
	cases := []struct {
		name     string
		maxCount *uint64
		tb       *uint64
		raw      *esdb.EventData // metadata event appended as is instead
		from     uint64
		want     []uint64 // visible revisions, forwards from `from`
	}{
		{name: "maxCount 3", maxCount: u(3), want: rng(7, 9)},
		{name: "maxCount larger than the stream", maxCount: u(20), want: rng(0, 9)},
		{name: "tb 4", tb: u(4), want: rng(4, 9)},
		{name: "tb 0", tb: u(0), want: rng(0, 9)},
		{name: "tb past the end: empty, not not-found", tb: u(10), want: nil},
		{name: "maxCount 8 and tb 5: the larger cut wins", maxCount: u(8), tb: u(5), want: rng(5, 9)},
		{name: "maxCount 5 and tb 2: the larger cut wins", maxCount: u(5), tb: u(2), want: rng(5, 9)},
		{name: "forwards from a truncated revision starts at the first visible", tb: u(4), from: 1, want: rng(4, 9)},
		{name: "invalid JSON metadata is ignored",
			raw:  &esdb.EventData{EventType: "$metadata", ContentType: esdb.ContentTypeJson, Data: []byte(`{"$maxCount":`)},
			want: rng(0, 9)},
		{name: "non-JSON metadata event is ignored",
			raw:  &esdb.EventData{EventType: "$metadata", ContentType: esdb.ContentTypeBinary, Data: []byte(`{"$maxCount":1}`)},
			want: rng(0, 9)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := streamName("trunc")
			for i := 0; i < 10; i++ {
				mustAppend(t, ctx, c, stream, esdb.Any{}, jsonEvent("E", fmt.Sprintf(`{"i":%d}`, i)))
			}
			full := mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{}, 100)
			if tc.raw != nil {
				ev := *tc.raw
				ev.EventID = uuid.New()
				mustAppend(t, ctx, c, "$$"+stream, esdb.Any{}, ev)
			} else {
				var meta esdb.StreamMetadata
				if tc.maxCount != nil {
					meta.SetMaxCount(*tc.maxCount)
				}
				if tc.tb != nil {
					meta.SetTruncateBefore(*tc.tb)
				}
				if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
					t.Fatalf("SetStreamMetadata: %v", err)
				}
			}
			var want []rec
			for _, r := range tc.want {
				want = append(want, full[r])
			}
			fwd, err := readStream(ctx, c, stream, esdb.ReadStreamOptions{From: esdb.Revision(tc.from)}, 100)
			if err != nil {
				t.Fatalf("forwards read: %v (a truncated stream that exists must not be not-found)", err)
			}
			if d := diffRecs(want, recsOf(fwd)); d != "" {
				t.Errorf("forwards (-want +got):\n%s", d)
			}
			bwd, err := readStream(ctx, c, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100)
			if err != nil {
				t.Fatalf("backwards read: %v", err)
			}
			if tc.from == 0 {
				if d := diffRecs(reversed(want), recsOf(bwd)); d != "" {
					t.Errorf("backwards (-want +got):\n%s", d)
				}
			}
			if d := diffRecs(full, filterRecs(fullAll(t, ctx, c), inStreams(stream))); d != "" {
				t.Errorf("$all must ignore stream metadata (-want +got):\n%s", d)
			}
			if tc.from == 0 {
				p := subscribeStream(t, ctx, c, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
				got := eventsOf(p.untilCaughtUp(t, "catch-up"))
				if d := diffRecs(want, got); d != "" {
					t.Errorf("subscription catch-up must apply truncation (-want +got):\n%s", d)
				}
			}
		})
	}

	t.Run("backwards from a revision below the visible range is empty", func(t *testing.T) {
		stream := streamName("trunc-back")
		mustAppend(t, ctx, c, stream, esdb.NoStream{}, numberedEvents(10, "E")...)
		var meta esdb.StreamMetadata
		meta.SetMaxCount(3)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
			t.Fatalf("SetStreamMetadata: %v", err)
		}
		got := mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(5)}, 10)
		if len(got) != 0 {
			t.Errorf("backwards from 5 with maxCount 3 of 10: %v, want nothing", got)
		}
		got = mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(8)}, 10)
		if g := revsOf(got); !cmp.Equal(g, []uint64{8, 7}) {
			t.Errorf("backwards from 8 with maxCount 3 of 10: %v, want [8 7]", g)
		}
	})
}

// TestStreamMetadataMaxAge covers $maxAge on stream reads: expired events are
// invisible (zero events, not not-found), new events are visible, $all keeps
// everything.
func TestStreamMetadataMaxAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	ctx, c := e.ctx, e.client
	stream := streamName("maxage")
	mustAppend(t, ctx, c, stream, esdb.NoStream{}, numberedEvents(3, "Old")...)
	var meta esdb.StreamMetadata
	meta.SetMaxAge(time.Second)
	if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	got, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
	if err != nil || got.MaxAge() == nil || *got.MaxAge() != time.Second {
		t.Fatalf("GetStreamMetadata: %+v, %v", got, err)
	}
	time.Sleep(2100 * time.Millisecond)
	for _, opts := range []esdb.ReadStreamOptions{{}, {Direction: esdb.Backwards, From: esdb.End{}}} {
		evs, err := readStream(ctx, c, stream, opts, 10)
		if err != nil {
			t.Fatalf("read %+v of an expired stream: %v (want zero events and EOF, not an error)", opts, err)
		}
		if len(evs) != 0 {
			t.Errorf("read %+v: %v, want no events older than $maxAge", opts, recsOf(evs))
		}
	}
	fresh := jsonEvent("New", `{}`)
	mustAppend(t, ctx, c, stream, esdb.Any{}, fresh)
	vis := mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{}, 10)
	if len(vis) != 1 || vis[0].ID != fresh.EventID || vis[0].Rev != 3 {
		t.Errorf("after a new append: %v, want only revision 3", vis)
	}
	if n := len(filterRecs(fullAll(t, ctx, c), inStreams(stream))); n != 4 {
		t.Errorf("$all has %d events of the stream, want 4", n)
	}
}

// ---- §6.5 Links -------------------------------------------------------------

// TestLinkEvents covers $> link resolution with ResolveLinkTos on stream and
// $all reads and subscriptions; unresolvable links keep only the link.
func TestLinkEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	ctx, c := e.ctx, e.client

	target := streamName("target")
	mustAppend(t, ctx, c, target, esdb.NoStream{}, numberedEvents(3, "Target")...)
	targets := mustReadStream(t, ctx, c, target, esdb.ReadStreamOptions{}, 10)
	dead := streamName("dead")
	mustAppend(t, ctx, c, dead, esdb.NoStream{}, jsonEvent("Dead", `{}`))
	if _, err := c.TombstoneStream(ctx, dead, esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatalf("TombstoneStream: %v", err)
	}
	link := func(data string) esdb.EventData {
		return esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte(data)}
	}
	truncated := streamName("truncated")
	mustAppend(t, ctx, c, truncated, esdb.NoStream{}, numberedEvents(2, "Truncated")...)
	var maxOne esdb.StreamMetadata
	maxOne.SetMaxCount(1)
	if _, err := c.SetStreamMetadata(ctx, truncated, esdb.AppendToStreamOptions{}, maxOne); err != nil {
		t.Fatalf("SetStreamMetadata: %v", err)
	}
	softDeleted := streamName("softdeleted")
	mustAppend(t, ctx, c, softDeleted, esdb.NoStream{}, jsonEvent("Soft", `{}`))
	if _, err := c.DeleteStream(ctx, softDeleted, esdb.DeleteStreamOptions{}); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	links := streamName("links")
	mustAppend(t, ctx, c, links, esdb.NoStream{},
		link("1@"+target),
		link("0@"+target),
		link("7@"+target),               // missing revision
		link("0@"+streamName("nobody")), // missing stream
		link("0@"+dead),                 // tombstoned target
		link("0@"+truncated),            // hidden by the target's $maxCount
		link("0@"+softDeleted),          // soft-deleted target
		link("not a link"),              // malformed data
	)
	linkRecs := mustReadStream(t, ctx, c, links, esdb.ReadStreamOptions{}, 10)
	if len(linkRecs) != 8 {
		t.Fatalf("links stream has %d events", len(linkRecs))
	}
	type resolved struct {
		Event *rec
		Link  *rec
	}
	ptr := func(r rec) *rec { return &r }
	wantResolved := []resolved{
		{ptr(targets[1]), ptr(linkRecs[0])},
		{ptr(targets[0]), ptr(linkRecs[1])},
		{nil, ptr(linkRecs[2])},
		{nil, ptr(linkRecs[3])},
		{nil, ptr(linkRecs[4])},
		{nil, ptr(linkRecs[5])},
		{nil, ptr(linkRecs[6])},
		{nil, ptr(linkRecs[7])},
	}
	project := func(evs []*esdb.ResolvedEvent) []resolved {
		var out []resolved
		for _, ev := range evs {
			var r resolved
			if ev.Event != nil {
				r.Event = ptr(toRec(ev.Event))
			}
			if ev.Link != nil {
				r.Link = ptr(toRec(ev.Link))
			}
			out = append(out, r)
		}
		return out
	}

	t.Run("stream read with resolveLinkTos", func(t *testing.T) {
		evs, err := readStream(ctx, c, links, esdb.ReadStreamOptions{ResolveLinkTos: true}, 10)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if d := cmp.Diff(wantResolved, project(evs)); d != "" {
			t.Errorf("resolved links (-want +got):\n%s", d)
		}
	})

	t.Run("stream read without resolveLinkTos returns plain $> events", func(t *testing.T) {
		evs, err := readStream(ctx, c, links, esdb.ReadStreamOptions{}, 10)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var want []resolved
		for _, l := range linkRecs {
			want = append(want, resolved{Event: ptr(l)})
		}
		if d := cmp.Diff(want, project(evs)); d != "" {
			t.Errorf("unresolved (-want +got):\n%s", d)
		}
		if linkRecs[0].Type != "$>" || linkRecs[0].Data != "1@"+target {
			t.Errorf("link record %v data %q", linkRecs[0], linkRecs[0].Data)
		}
	})

	t.Run("$all read with resolveLinkTos", func(t *testing.T) {
		evs, err := readAll(ctx, c, esdb.ReadAllOptions{ResolveLinkTos: true}, 1<<40)
		if err != nil {
			t.Fatalf("read $all: %v", err)
		}
		var ours []*esdb.ResolvedEvent
		for _, ev := range evs {
			if o := ev.OriginalEvent(); o != nil && o.StreamID == links {
				ours = append(ours, ev)
				if ev.Commit == nil || *ev.Commit != o.Position.Commit {
					t.Errorf("$all link %v: ReadEvent position %v, want the link's %d", toRec(o), ev.Commit, o.Position.Commit)
				}
			}
		}
		if d := cmp.Diff(wantResolved, project(ours)); d != "" {
			t.Errorf("resolved links in $all (-want +got):\n%s", d)
		}
	})

	t.Run("stream subscription with resolveLinkTos", func(t *testing.T) {
		p := subscribeStream(t, ctx, c, links, esdb.SubscribeToStreamOptions{From: esdb.Start{}, ResolveLinkTos: true})
		got := p.untilCaughtUp(t, "catch-up")
		var want []subMsg
		for _, w := range wantResolved {
			m := subMsg{Kind: "event", Ev: *w.Link}
			m.Target = w.Event
			want = append(want, m)
		}
		want = append(want, subMsg{Kind: "caughtup"})
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("catch-up (-want +got):\n%s", d)
		}
		mustAppend(t, ctx, c, links, esdb.Any{}, link("2@"+target))
		live := p.untilEvents(t, "live", 1)
		if len(live) != 1 || live[0].Target == nil || *live[0].Target != targets[2] || live[0].Ev.Type != "$>" {
			t.Errorf("live link: %v (target %v), want resolved to %v", live, live[0].Target, targets[2])
		}
	})

	t.Run("$all subscription with resolveLinkTos", func(t *testing.T) {
		p := subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.End{}, ResolveLinkTos: true})
		p.untilCaughtUp(t, "caught up")
		mustAppend(t, ctx, c, links, esdb.Any{}, link("0@"+target))
		live := p.untilEvents(t, "live", 1)
		if live[0].Target == nil || *live[0].Target != targets[0] || live[0].Ev.Stream != links {
			t.Errorf("live $all link: %v (target %v), want resolved to %v", live[0], live[0].Target, targets[0])
		}
	})
}

// ---- §1 handshake and discovery ------------------------------------------

// TestServerFeaturesAndDiscovery covers §1.3–1.5: the reported version is
// numeric and ≥ 23 (the client's version-gated behaviour), cluster-mode
// connection strings (gossip) work, and persistent subscriptions are not
// advertised (client-side ErrorCodeUnsupportedFeature for $all).
func TestServerFeaturesAndDiscovery(t *testing.T) {
	t.Parallel()
	srv, _ := startServer(t, server.Config{})
	c := newClient(t, srv)
	v, err := c.GetServerVersion()
	if err != nil {
		t.Fatalf("GetServerVersion: %v", err)
	}
	if v.Major < 23 {
		t.Errorf("server version %+v, want >= 23 (24.10.0 recommended)", *v)
	}
	ctx := testContext(t)

	for _, cs := range []string{
		"esdb+discover://" + srv.Addr() + "?tls=false",
		"esdb://" + srv.Addr() + "," + srv.Addr() + "?tls=false",
	} {
		t.Run(cs, func(t *testing.T) {
			cfg, err := esdb.ParseConnectionString(cs)
			if err != nil {
				t.Fatalf("ParseConnectionString: %v", err)
			}
			cfg.Logger = esdb.NoopLogging()
			cc, err := esdb.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			stream := streamName("gossip")
			res := mustAppend(t, ctx, cc, stream, esdb.NoStream{}, jsonEvent("ViaGossip", `{}`))
			got := mustReadStream(t, ctx, cc, stream, esdb.ReadStreamOptions{}, 10)
			if len(got) != 1 || got[0].Pos != res.CommitPosition {
				t.Errorf("read back via %s: %v", cs, got)
			}
		})
	}

	t.Run("persistent subscriptions to $all are not advertised", func(t *testing.T) {
		err := c.CreatePersistentSubscriptionToAll(ctx, "group", esdb.PersistentAllSubscriptionOptions{})
		requireCode(t, err, esdb.ErrorCodeUnsupportedFeature, "CreatePersistentSubscriptionToAll")
	})
}

// ---- §1.2 keepalive -----------------------------------------------------------

// TestLiveSubscriptionSurvivesIdle keeps live stream and $all subscriptions
// idle for 65 s (the client pings every 10 s; a grpc-go server with the
// default enforcement policy answers with GOAWAY too_many_pings and drops
// idle streams after ~31 s) and checks they still deliver afterwards. It runs
// in parallel with the rest of the suite.
func TestLiveSubscriptionSurvivesIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	stream := streamName("idle")
	ps := subscribeStream(t, e.ctx, e.client, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	pa := subscribeAll(t, e.ctx, e.client, esdb.SubscribeToAllOptions{From: esdb.End{}})
	ps.untilCaughtUp(t, "stream caught up")
	pa.untilCaughtUp(t, "$all caught up")

	const idle = 65 * time.Second
	deadline := time.Now().Add(idle)
	for time.Now().Before(deadline) {
		// Wake up every few seconds to report a drop as early as possible.
		if got := ps.quiet(5 * time.Second); len(got) != 0 {
			t.Fatalf("idle stream subscription got %v after %v", got, idle-time.Until(deadline))
		}
		if got := pa.quiet(10 * time.Millisecond); len(got) != 0 {
			t.Fatalf("idle $all subscription got %v after %v", got, idle-time.Until(deadline))
		}
	}
	ev := jsonEvent("AfterIdle", `{}`)
	res := mustAppend(t, e.ctx, e.client, stream, esdb.NoStream{}, ev)
	want := []rec{{Stream: stream, Rev: 0, ID: ev.EventID, Type: "AfterIdle", Data: "{}", Pos: res.CommitPosition}}
	if d := diffRecs(want, eventsOf(ps.untilEvents(t, "stream after idle", 1))); d != "" {
		t.Errorf("stream subscription after idle (-want +got):\n%s", d)
	}
	if d := diffRecs(want, eventsOf(pa.untilEvents(t, "$all after idle", 1))); d != "" {
		t.Errorf("$all subscription after idle (-want +got):\n%s", d)
	}
}
