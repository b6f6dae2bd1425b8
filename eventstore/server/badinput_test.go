package server_test

// Bad input gets the real server's errors (spec §2.2, §4.1, §7.6, §8), and
// damaged data directories are refused while torn tails are recovered.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crm-es/crm/eventstore/server"
)

// ---- raw gRPC helpers -------------------------------------------------------

func rawConn(t *testing.T, srv *server.Server) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(17<<20)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func optionsMsg(stream string) *streams.AppendReq {
	return &streams.AppendReq{Content: &streams.AppendReq_Options_{Options: &streams.AppendReq_Options{
		StreamIdentifier:       &shared.StreamIdentifier{StreamName: []byte(stream)},
		ExpectedStreamRevision: &streams.AppendReq_Options_Any{Any: &shared.Empty{}},
	}}}
}

func structuredID(id uuid.UUID) *shared.UUID {
	most, least := esdb.UUIDAsInt64(id)
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}}
}

func stringID(s string) *shared.UUID {
	return &shared.UUID{Value: &shared.UUID_String_{String_: s}}
}

func proposedMsg(id *shared.UUID, md map[string]string, data []byte) *streams.AppendReq {
	return &streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: &streams.AppendReq_ProposedMessage{
		Id: id, Metadata: md, Data: data, CustomMetadata: []byte{},
	}}}
}

func jsonMD(eventType string) map[string]string {
	return map[string]string{"type": eventType, "content-type": "application/json"}
}

// rawAppend sends msgs on one Append call and returns the reply, trailers
// and status. Like the real client it sends everything before reading.
func rawAppend(ctx context.Context, conn *grpc.ClientConn, msgs ...*streams.AppendReq) (*streams.AppendResp, metadata.MD, error) {
	call, err := streams.NewStreamsClient(conn).Append(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range msgs {
		if err := call.Send(m); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server already replied; the status comes from CloseAndRecv
			}
			return nil, nil, err
		}
	}
	resp, err := call.CloseAndRecv()
	return resp, call.Trailer(), err
}

// ---- §4.1 maximum append size ----------------------------------------------

// TestMaxAppendSize: appends whose summed event data exceeds MaxAppendSize
// fail with InvalidArgument (client: ErrorCodeUnknown) naming the maximum
// append size, with exception trailers; metadata bytes do not count; nothing
// is written; large events get this error, not ResourceExhausted.
func TestMaxAppendSize(t *testing.T) {
	t.Parallel()
	binary := func(n int) esdb.EventData {
		return esdb.EventData{EventID: uuid.New(), EventType: "Blob", ContentType: esdb.ContentTypeBinary, Data: bytes.Repeat([]byte{'a'}, n)}
	}
	withMeta := func(n, m int) esdb.EventData {
		e := binary(n)
		e.Metadata = bytes.Repeat([]byte{'m'}, m)
		return e
	}
	cases := []struct {
		name   string
		max    int // server.Config.MaxAppendSize (0 = default 1 MiB)
		events []esdb.EventData
		ok     bool
	}{
		{"small limit: exactly the limit", 1000, []esdb.EventData{binary(1000)}, true},
		{"small limit: one byte over", 1000, []esdb.EventData{binary(1001)}, false},
		{"small limit: the sum over events counts", 1000, []esdb.EventData{binary(500), binary(501)}, false},
		{"small limit: many small events", 1000, []esdb.EventData{binary(300), binary(300), binary(300), binary(300)}, false},
		{"small limit: metadata does not count", 1000, []esdb.EventData{withMeta(900, 10_000)}, true},
		{"default limit: exactly 1 MiB", 0, []esdb.EventData{binary(1 << 20)}, true},
		{"default limit: 1 MiB + 1", 0, []esdb.EventData{binary(1<<20 + 1)}, false},
		{"default limit: three 400 KB events", 0, []esdb.EventData{binary(400_000), binary(400_000), binary(400_000)}, false},
		{"default limit: one 5 MiB event (above grpc's default 4 MiB receive size)", 0, []esdb.EventData{binary(5 << 20)}, false},
		{"default limit: one 16 MiB event", 0, []esdb.EventData{binary(16 << 20)}, false},
	}
	envs := map[int]*env{}
	for _, m := range []int{0, 1000} {
		envs[m] = newEnv(t, server.Config{MaxAppendSize: m})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := envs[tc.max]
			stream := streamName("size")
			res, err := e.client.AppendToStream(e.ctx, stream, esdb.AppendToStreamOptions{}, tc.events...)
			if tc.ok {
				if err != nil {
					t.Fatalf("append within the limit: %v", err)
				}
				if res.NextExpectedVersion != uint64(len(tc.events)-1) {
					t.Fatalf("revision %d", res.NextExpectedVersion)
				}
				got, err := readStream(e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 100)
				if err != nil || len(got) != len(tc.events) || !bytes.Equal(got[0].Event.Data, tc.events[0].Data) {
					t.Fatalf("read back: %d events, %v", len(got), err)
				}
				return
			}
			er := requireCode(t, err, esdb.ErrorCodeUnknown, "append over the maximum append size")
			st, ok := grpcStatus(er)
			if !ok {
				t.Fatalf("error %v carries no gRPC status (the server must drain the request before replying)", err)
			}
			if st.Code() != codes.InvalidArgument {
				t.Errorf("status code %v (%q), want InvalidArgument", st.Code(), st.Message())
			}
			if !strings.Contains(strings.ToLower(st.Message()), "maximum append size") {
				t.Errorf("status message %q does not mention the maximum append size", st.Message())
			}
			_, rerr := readStream(e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 1)
			requireCode(t, rerr, esdb.ErrorCodeResourceNotFound, "stream after a refused append")
		})
	}

	t.Run("raw: trailers name the exception and the limit", func(t *testing.T) {
		e := envs[1000]
		conn := rawConn(t, e.srv)
		stream := streamName("size-raw")
		_, tr, err := rawAppend(e.ctx, conn, optionsMsg(stream),
			proposedMsg(structuredID(uuid.New()), jsonMD("Blob"), bytes.Repeat([]byte{'1'}, 700)),
			proposedMsg(structuredID(uuid.New()), jsonMD("Blob"), bytes.Repeat([]byte{'1'}, 700)))
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("status %v, want InvalidArgument", err)
		}
		got := map[string]string{"exception": first(tr, "exception"), "maximum-append-size": first(tr, "maximum-append-size")}
		want := map[string]string{"exception": "maximum-append-size-exceeded", "maximum-append-size": "1000"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("trailers %v, want %v", tr, want)
		}
	})
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// ---- §2.2 / §4.1 malformed append requests -------------------------------

// TestRawAppendBadInput sends malformed Append requests with the generated
// protos: malformed UUIDs and missing type/content-type are InvalidArgument
// (the latter with exception=missing-required-metadata-property), a wrong
// message order is Unknown; nothing is written and the connection stays
// usable. A well-formed string UUID is accepted.
func TestRawAppendBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	conn := rawConn(t, e.srv)
	good := func() *streams.AppendReq { return proposedMsg(structuredID(uuid.New()), jsonMD("Good"), []byte(`{}`)) }
	cases := []struct {
		name          string
		msgs          func(stream string) []*streams.AppendReq
		code          codes.Code
		wantException string // "" = not checked
	}{
		{"malformed string uuid", func(s string) []*streams.AppendReq {
			return []*streams.AppendReq{optionsMsg(s), proposedMsg(stringID("not-a-uuid"), jsonMD("E"), []byte(`{}`))}
		}, codes.InvalidArgument, ""},
		{"truncated string uuid", func(s string) []*streams.AppendReq {
			return []*streams.AppendReq{optionsMsg(s), proposedMsg(stringID("0f8fad5b-d9cb-469f-a165"), jsonMD("E"), []byte(`{}`))}
		}, codes.InvalidArgument, ""},
		{"malformed uuid after a good event", func(s string) []*streams.AppendReq {
			return []*streams.AppendReq{optionsMsg(s), good(), proposedMsg(stringID("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"), jsonMD("E"), []byte(`{}`))}
		}, codes.InvalidArgument, ""},
		{"missing type", func(s string) []*streams.AppendReq {
			return []*streams.AppendReq{optionsMsg(s), proposedMsg(structuredID(uuid.New()), map[string]string{"content-type": "application/json"}, []byte(`{}`))}
		}, codes.InvalidArgument, "missing-required-metadata-property"},
		{"missing content-type", func(s string) []*streams.AppendReq {
			return []*streams.AppendReq{optionsMsg(s), proposedMsg(structuredID(uuid.New()), map[string]string{"type": "E"}, []byte(`{}`))}
		}, codes.InvalidArgument, "missing-required-metadata-property"},
		{"no metadata at all, after a good event", func(s string) []*streams.AppendReq {
			return []*streams.AppendReq{optionsMsg(s), good(), proposedMsg(structuredID(uuid.New()), nil, []byte(`{}`))}
		}, codes.InvalidArgument, "missing-required-metadata-property"},
		{"proposed message before options", func(s string) []*streams.AppendReq {
			return []*streams.AppendReq{good(), optionsMsg(s)}
		}, codes.Unknown, ""},
		{"options twice", func(s string) []*streams.AppendReq {
			return []*streams.AppendReq{optionsMsg(s), good(), optionsMsg(s)}
		}, codes.Unknown, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := streamName("raw")
			resp, tr, err := rawAppend(e.ctx, conn, tc.msgs(stream)...)
			if err == nil {
				t.Fatalf("append accepted (%v), want status %v", resp, tc.code)
			}
			if st, _ := status.FromError(err); st.Code() != tc.code {
				t.Errorf("status %v (%q), want %v", st.Code(), st.Message(), tc.code)
			}
			if tc.wantException != "" && first(tr, "exception") != tc.wantException {
				t.Errorf("trailer exception = %q (trailers %v), want %q", first(tr, "exception"), tr, tc.wantException)
			}
			_, rerr := readStream(e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 10)
			requireCode(t, rerr, esdb.ErrorCodeResourceNotFound, "stream after a refused append")
		})
	}

	t.Run("a well-formed string uuid is accepted", func(t *testing.T) {
		stream := streamName("raw-ok")
		id := uuid.New()
		resp, _, err := rawAppend(e.ctx, conn, optionsMsg(stream), proposedMsg(stringID(id.String()), jsonMD("E"), []byte(`{"a":1}`)))
		if err != nil || resp.GetSuccess() == nil {
			t.Fatalf("append: %v, %v", resp, err)
		}
		got := mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 10)
		if len(got) != 1 || got[0].ID != id {
			t.Fatalf("read back %v, want id %s", got, id)
		}
	})
}

// ---- §7.6 / §8 invalid filters ----------------------------------------------

// TestInvalidFilter: invalid or non-RE2 filter regexes and a zero checkpoint
// multiplier make the subscription fail with InvalidArgument; the client
// stays usable.
func TestInvalidFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	mustAppend(t, e.ctx, e.client, streamName("f"), esdb.Any{}, jsonEvent("E", `{}`))
	cases := []struct {
		name   string
		filter *esdb.SubscriptionFilter
	}{
		{"unbalanced paren in event type regex", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "("}},
		{"lookahead (not RE2)", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "(?=x)"}},
		{"lookbehind (not RE2)", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "(?<=a)b"}},
		{"backreference (not RE2)", &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: `(a)\1`}},
		{"unterminated class in stream regex", &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "customer-["}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := e.client.SubscribeToAll(e.ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: tc.filter})
			if err == nil {
				// Failing after the confirmation is acceptable only as an immediate drop.
				defer sub.Close()
				m := toSubMsg(sub.Recv())
				if m.Kind != "dropped" {
					t.Fatalf("subscription with regex %q accepted and delivered %v", tc.filter.Regex, m)
				}
				err = m.Err
			}
			st, ok := grpcStatus(err)
			if !ok || st.Code() != codes.InvalidArgument {
				t.Errorf("regex %q: error %v, want status InvalidArgument", tc.filter.Regex, err)
			}
		})
	}

	t.Run("raw: checkpoint interval multiplier 0", func(t *testing.T) {
		conn := rawConn(t, e.srv)
		req := &streams.ReadReq{Options: &streams.ReadReq_Options{
			StreamOption:  &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}}},
			CountOption:   &streams.ReadReq_Options_Subscription{Subscription: &streams.ReadReq_Options_SubscriptionOptions{}},
			ReadDirection: streams.ReadReq_Options_Forwards,
			FilterOption: &streams.ReadReq_Options_Filter{Filter: &streams.ReadReq_Options_FilterOptions{
				Filter:                       &streams.ReadReq_Options_FilterOptions_EventType{EventType: &streams.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"E"}}},
				Window:                       &streams.ReadReq_Options_FilterOptions_Max{Max: 32},
				CheckpointIntervalMultiplier: 0,
			}},
			UuidOption: &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}},
		}}
		call, err := streams.NewStreamsClient(conn).Read(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := call.Recv()
		if err == nil {
			t.Fatalf("first message %v, want InvalidArgument", msg)
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("status %v, want InvalidArgument", err)
		}
	})

	t.Run("client still works", func(t *testing.T) {
		p := subscribeAll(t, e.ctx, e.client, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^E$"}})
		if evs := eventsOf(p.untilCaughtUp(t, "valid filter")); len(evs) != 1 {
			t.Errorf("valid filter delivered %v", evs)
		}
	})
}

// ---- data directory damage ---------------------------------------------------

// seedDir writes n single-event appends, each with a recognisable payload,
// into a fresh data directory through a real server and closes it. It
// returns the records as read back and the size of the last chunk file
// before the last append (where the last record starts).
func seedDir(t *testing.T, dir string, n int) ([]rec, int64) {
	t.Helper()
	e := newEnv(t, server.Config{Dir: dir})
	var lastStart int64
	for i := 0; i < n; i++ {
		if i == n-1 {
			files := chunkFiles(t, dir)
			st, err := os.Stat(files[len(files)-1])
			if err != nil {
				t.Fatal(err)
			}
			lastStart = st.Size()
		}
		data := fmt.Sprintf(`{"marker":"DAMAGE-MARKER-%03d","pad":"%s"}`, i, strings.Repeat("p", 200))
		mustAppend(t, e.ctx, e.client, fmt.Sprintf("dmg-%d", i%3), esdb.Any{}, jsonEvent("Seeded", data))
	}
	all := fullAll(t, e.ctx, e.client)
	e.stop()
	return filterRecs(all, func(r rec) bool { return strings.HasPrefix(r.Stream, "dmg-") }), lastStart
}

func chunkFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "chunk-*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no chunk-*.log files in %s (%v)", dir, err)
	}
	sort.Strings(files)
	return files
}

// markerOffset finds the i-th event's marker in the chunk file contents.
func markerOffset(t *testing.T, content []byte, i int) int {
	t.Helper()
	off := bytes.Index(content, []byte(fmt.Sprintf("DAMAGE-MARKER-%03d", i)))
	if off < 0 {
		t.Fatalf("marker %d not found in the chunk file (event data not stored verbatim?)", i)
	}
	return off
}

// TestDamagedDataDir: damage in the middle of a chunk (followed by more valid
// records) or a garbage header is corruption, not a torn tail: server.Open
// (and Start) must fail with an error naming the file.
func TestDamagedDataDir(t *testing.T) {
	t.Parallel()
	const n = 30
	cases := []struct {
		name   string
		damage func(t *testing.T, content []byte) []byte
	}{
		{"bit flips in a record in the middle", func(t *testing.T, b []byte) []byte {
			off := markerOffset(t, b, n/2)
			for i := 0; i < 4; i++ {
				b[off+i] ^= 0xff
			}
			return b
		}},
		{"single bit flip in a record in the middle", func(t *testing.T, b []byte) []byte {
			b[markerOffset(t, b, n/2)+20] ^= 0x01
			return b
		}},
		{"zeroed sector in the middle", func(t *testing.T, b []byte) []byte {
			off := markerOffset(t, b, n/3)
			for i := off - 100; i < off+412 && i < len(b); i++ {
				b[i] = 0
			}
			return b
		}},
		{"garbage header", func(t *testing.T, b []byte) []byte {
			for i := 0; i < 64 && i < len(b); i++ {
				b[i] = byte(0xa5 ^ i)
			}
			return b
		}},
		{"damaged first record", func(t *testing.T, b []byte) []byte {
			b[markerOffset(t, b, 0)+3] ^= 0xff
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, _ = seedDir(t, dir, n)
			files := chunkFiles(t, dir)
			target := files[len(files)-1]
			content, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, tc.damage(t, content), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, open := range []struct {
				name string
				fn   func() (*server.Server, error)
			}{
				{"Open", func() (*server.Server, error) { return server.Open(server.Config{Dir: dir}) }},
				{"Start", func() (*server.Server, error) { return server.Start(server.Config{Dir: dir}, "127.0.0.1:0") }},
			} {
				srv, err := open.fn()
				if err == nil {
					_ = srv.Close()
					t.Fatalf("server.%s accepted a damaged data directory", open.name)
				}
				if !strings.Contains(err.Error(), filepath.Base(target)) {
					t.Errorf("server.%s error %q does not name the damaged file %s", open.name, err, filepath.Base(target))
				}
			}
		})
	}
}

// TestTornTail: a torn last record (truncated tail, or a zero-filled tail as
// left by a crash after the file grew) must not lose any earlier record; the
// directory opens, the torn batch is all-or-nothing, new appends work and
// survive another restart.
func TestTornTail(t *testing.T) {
	t.Parallel()
	const n = 20
	cases := []struct {
		name string
		tear func(t *testing.T, b []byte, lastStart int) []byte
	}{
		{"truncate 1 byte", func(t *testing.T, b []byte, _ int) []byte { return b[:len(b)-1] }},
		{"truncate 3 bytes", func(t *testing.T, b []byte, _ int) []byte { return b[:len(b)-3] }},
		{"truncate 9 bytes", func(t *testing.T, b []byte, _ int) []byte { return b[:len(b)-9] }},
		{"truncate inside the last record's data", func(t *testing.T, b []byte, _ int) []byte {
			return b[:markerOffset(t, b, n-1)+10]
		}},
		{"truncate inside the last record's header", func(t *testing.T, b []byte, last int) []byte {
			return b[:last+5]
		}},
		{"zero-filled tail after the last record", func(t *testing.T, b []byte, _ int) []byte {
			return append(b, make([]byte, 4096)...)
		}},
		{"truncated last record followed by zeros", func(t *testing.T, b []byte, _ int) []byte {
			return append(b[:markerOffset(t, b, n-1)+10], make([]byte, 1000)...)
		}},
		{"partial last record header followed by zeros", func(t *testing.T, b []byte, last int) []byte {
			return append(b[:last+5], make([]byte, 1000)...)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			before, lastStart := seedDir(t, dir, n)
			if len(before) != n {
				t.Fatalf("seeded %d events", len(before))
			}
			files := chunkFiles(t, dir)
			target := files[len(files)-1]
			content, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, tc.tear(t, content, int(lastStart)), 0o644); err != nil {
				t.Fatal(err)
			}

			e := newEnv(t, server.Config{Dir: dir})
			got := filterRecs(fullAll(t, e.ctx, e.client), func(r rec) bool { return strings.HasPrefix(r.Stream, "dmg-") })
			if len(got) < n-1 {
				t.Fatalf("after a torn tail only %d of %d events survive: earlier records were lost", len(got), n)
			}
			if d := diffRecs(before[:len(got)], got); d != "" {
				t.Fatalf("recovered events differ (-before +after):\n%s", d)
			}
			res := mustAppend(t, e.ctx, e.client, "dmg-new", esdb.NoStream{}, numberedEvents(3, "AfterTear")...)
			if res.CommitPosition <= got[len(got)-1].Pos {
				t.Errorf("new append position %d not after %d", res.CommitPosition, got[len(got)-1].Pos)
			}
			want := fullAll(t, e.ctx, e.client)
			e.stop()

			e2 := newEnv(t, server.Config{Dir: dir})
			if d := diffRecs(want, fullAll(t, e2.ctx, e2.client)); d != "" {
				t.Fatalf("after a second restart (-want +got):\n%s", d)
			}
		})
	}
}

// TestMultiChunkDataDir writes past the 256 MiB chunk size so that the log
// spans two chunk files, then checks: reads across the boundary and a clean
// reopen see the same log; damage or a torn end in the non-last chunk is
// refused naming that file; a missing chunk is refused; a torn tail of the
// last chunk is recovered without losing the earlier chunk.
func TestMultiChunkDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEnv(t, server.Config{Dir: dir})
	big := bytes.Repeat([]byte{'b'}, 1<<20)
	for i := 0; i < 260; i++ {
		ev := esdb.EventData{EventID: uuid.New(), EventType: "Big", ContentType: esdb.ContentTypeBinary, Data: big}
		mustAppend(t, e.ctx, e.client, fmt.Sprintf("big-%d", i%4), esdb.Any{}, ev)
	}
	for i := 0; i < 10; i++ {
		data := fmt.Sprintf(`{"marker":"DAMAGE-MARKER-%03d"}`, i)
		mustAppend(t, e.ctx, e.client, "small", esdb.Any{}, jsonEvent("Small", data))
	}
	// $all without the payloads (270 MiB of strings would be wasteful).
	light := func(t *testing.T, e *env) []rec {
		t.Helper()
		evs, err := readAll(e.ctx, e.client, esdb.ReadAllOptions{}, 1<<40)
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		out := make([]rec, 0, len(evs))
		for _, ev := range evs {
			r := toRec(ev.OriginalEvent())
			r.Data = fmt.Sprintf("%d bytes", len(r.Data))
			out = append(out, r)
		}
		return out
	}
	before := light(t, e)
	requireIncreasing(t, before, "$all across chunks")
	e.stop()
	files := chunkFiles(t, dir)
	if len(files) < 2 {
		t.Fatalf("%d chunk files after 270 MiB, want >= 2 (rotation)", len(files))
	}
	first, last := files[0], files[len(files)-1]

	reopen := func(t *testing.T) []rec {
		t.Helper()
		e := newEnv(t, server.Config{Dir: dir})
		defer e.stop()
		return light(t, e)
	}
	refused := func(t *testing.T, name string) {
		t.Helper()
		srv, err := server.Open(server.Config{Dir: dir})
		if err == nil {
			_ = srv.Close()
			t.Fatalf("server.Open accepted the directory")
		}
		if !strings.Contains(err.Error(), filepath.Base(name)) {
			t.Errorf("server.Open error %q does not name %s", err, filepath.Base(name))
		}
	}

	t.Run("clean reopen", func(t *testing.T) {
		if d := diffRecs(before, reopen(t)); d != "" {
			t.Fatalf("log changed across a reopen (-before +after):\n%s", d)
		}
	})

	t.Run("damage in the middle of the first chunk", func(t *testing.T) {
		f, err := os.OpenFile(first, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		off := st.Size() / 2
		var b [1]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{b[0] ^ 0x10}, off); err != nil {
			t.Fatal(err)
		}
		refused(t, first)
		if _, err := f.WriteAt(b[:], off); err != nil { // restore
			t.Fatal(err)
		}
	})

	t.Run("torn end of a non-last chunk", func(t *testing.T) {
		content, err := os.ReadFile(first)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(first, int64(len(content)-3)); err != nil {
			t.Fatal(err)
		}
		refused(t, first)
		if err := os.WriteFile(first, content, 0o644); err != nil { // restore
			t.Fatal(err)
		}
	})

	t.Run("missing chunk", func(t *testing.T) {
		moved := first + ".moved"
		if err := os.Rename(first, moved); err != nil {
			t.Fatal(err)
		}
		refused(t, first)
		if err := os.Rename(moved, first); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("torn tail of the last chunk", func(t *testing.T) {
		content, err := os.ReadFile(last)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(last, int64(len(content)-3)); err != nil {
			t.Fatal(err)
		}
		got := reopen(t)
		if len(got) != len(before)-1 {
			t.Fatalf("after tearing the last record %d events, want %d", len(got), len(before)-1)
		}
		if d := diffRecs(before[:len(got)], got); d != "" {
			t.Fatalf("recovered log (-before +after):\n%s", d)
		}
	})
}
